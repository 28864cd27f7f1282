// Package auth0revoke plugs jwtrevoke's check into
// auth0/go-jwt-middleware (v2): CheckRevocation wraps the validator's
// ValidateToken, so a token that verifies but has been revoked is refused
// like an invalid one (401 from the middleware's error handler).
//
//	v, _ := validator.New(keyFunc, validator.RS256, issuer, []string{audience})
//	mw := jwtmiddleware.New(auth0revoke.CheckRevocation(v.ValidateToken, a))
//	http.Handle("/api/", mw.CheckJWT(apiHandler))
package auth0revoke

import (
	"context"
	"errors"
	"fmt"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
)

// ErrRevoked is the error CheckRevocation's validator returns for a token
// the agent refuses; it wraps the reason ("revoked", "stale", …).
var ErrRevoked = errors.New("token refused by the revocation check")

// CheckRevocation returns validate followed by the agent's check. The
// check runs only on tokens validate accepted; it reads the claims it needs
// (jti, sub, sid, iat at full precision) and the kid header from the
// verified token. A token without jti is refused: it could never be
// revoked by its ID.
func CheckRevocation(validate jwtmiddleware.ValidateToken, a *agent.Agent) jwtmiddleware.ValidateToken {
	parser := jwt.NewParser()
	return func(ctx context.Context, raw string) (any, error) {
		claims, err := validate(ctx, raw)
		if err != nil {
			return nil, err
		}
		// validate has checked the signature: reading the payload again
		// without verifying it is safe here.
		tok, _, err := parser.ParseUnverified(raw, jwt.MapClaims{})
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
		return claims, nil
	}
}
