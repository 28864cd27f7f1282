// Package ginrevoke adapts jwtrevoke's middleware to gin: Middleware is
// verify.Middleware as a gin.HandlerFunc, and Verified reads what it
// verified. Copy it into your project; it is a dozen lines.
package ginrevoke

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// Middleware verifies the request's JWT and refuses revoked tokens, as
// verify.Middleware does (same arguments, same RFC 6750 answers). A refused
// request is aborted; an accepted one continues with the verified token in
// its request context.
func Middleware(a *agent.Agent, keys keyset.Set, algs []string, opts ...verify.Option) (gin.HandlerFunc, error) {
	mw, err := verify.Middleware(a, keys, algs, opts...)
	if err != nil {
		return nil, err
	}
	return func(c *gin.Context) {
		passed := false
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r // carries the verified token
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}, nil
}

// Verified returns what Middleware verified for this request.
func Verified(c *gin.Context) (*verify.Verified, bool) {
	return verify.FromContext(c.Request.Context())
}
