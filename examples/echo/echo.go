// Package echorevoke adapts jwtrevoke's middleware to Echo: echo's own
// WrapMiddleware turns agent.Middleware into an echo.MiddlewareFunc, and
// Verified reads what it verified.
package echorevoke

import (
	"github.com/labstack/echo/v4"

	"github.com/jwtrevoke/jwtrevoke/agent"
)

// Middleware verifies the request's JWT and refuses revoked tokens, as
// agent.Middleware does (same arguments, same RFC 6750 answers).
func Middleware(a *agent.Agent, keys agent.KeySet, algs []string, opts ...agent.MiddlewareOption) (echo.MiddlewareFunc, error) {
	mw, err := agent.Middleware(a, keys, algs, opts...)
	if err != nil {
		return nil, err
	}
	return echo.WrapMiddleware(mw), nil
}

// Verified returns what Middleware verified for this request.
func Verified(c echo.Context) (*agent.Verified, bool) {
	return agent.FromContext(c.Request().Context())
}
