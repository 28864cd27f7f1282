// Package echojwtrevoke plugs jwtrevoke's check into labstack/echo-jwt
// (v4). echo-jwt's SuccessHandler cannot refuse a request, so the check
// goes into its ParseTokenFunc: parse and verify as echo-jwt would, then
// ask the agent. A refused token fails like an invalid one (401).
//
//	e.Use(echojwt.WithConfig(echojwt.Config{
//		ParseTokenFunc: echojwtrevoke.ParseTokenFunc(a, keyfunc, []string{"RS256"}),
//	}))
package echojwtrevoke

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
)

// ErrRevoked is the error the parse function returns for a token the agent
// refuses; it wraps the reason ("revoked", "stale", …).
var ErrRevoked = errors.New("token refused by the revocation check")

// ParseTokenFunc returns an echo-jwt ParseTokenFunc that verifies the token
// with keyfunc, accepting only algs and requiring exp, and then refuses it
// if the agent a does. The *jwt.Token it returns is what echo-jwt stores
// in the context (under "user" by default).
func ParseTokenFunc(a *agent.Agent, keyfunc jwt.Keyfunc, algs []string) func(echo.Context, string) (any, error) {
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return func(_ echo.Context, raw string) (any, error) {
		tok, err := parser.Parse(raw, keyfunc)
		if err != nil {
			return nil, err
		}
		t, err := jwtrevoke.FromJWT(tok)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRevoked, err)
		}
		if t.JTI == "" {
			return nil, fmt.Errorf("%w: no jti", ErrRevoked)
		}
		if res := a.Check(&t); !res.Allowed {
			return nil, fmt.Errorf("%w: %s", ErrRevoked, res.Reason())
		}
		return tok, nil
	}
}
