// Package echorevoke adapts jwtrevoke's middleware to Echo: echo's own
// WrapMiddleware turns verify.Middleware into an echo.MiddlewareFunc, and
// Verified reads what it verified.
package echorevoke

import (
	"github.com/labstack/echo/v4"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// Middleware verifies the request's JWT and refuses revoked tokens, as
// verify.Middleware does (same arguments, same RFC 6750 answers).
func Middleware(a *agent.Agent, keys keyset.Set, algs []string, opts ...verify.Option) (echo.MiddlewareFunc, error) {
	mw, err := verify.Middleware(a, keys, algs, opts...)
	if err != nil {
		return nil, err
	}
	return echo.WrapMiddleware(mw), nil
}

// Verified returns what Middleware verified for this request.
func Verified(c echo.Context) (*verify.Verified, bool) {
	return verify.FromContext(c.Request().Context())
}
