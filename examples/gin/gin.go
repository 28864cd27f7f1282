// Package ginrevoke adapts jwtrevoke's middleware to gin: Middleware is
// agent.Middleware as a gin.HandlerFunc, and Verified reads what it
// verified. Copy it into your project; it is a dozen lines.
package ginrevoke

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jwtrevoke/jwtrevoke/agent"
)

// Middleware verifies the request's JWT and refuses revoked tokens, as
// agent.Middleware does (same arguments, same RFC 6750 answers). A refused
// request is aborted; an accepted one continues with the verified token in
// its request context.
func Middleware(a *agent.Agent, keys agent.KeySet, algs []string, opts ...agent.MiddlewareOption) (gin.HandlerFunc, error) {
	mw, err := agent.Middleware(a, keys, algs, opts...)
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
func Verified(c *gin.Context) (*agent.Verified, bool) {
	return agent.FromContext(c.Request.Context())
}
