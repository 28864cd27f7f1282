package auth0revoke_test

import (
	"context"
	"net/http"
	"testing"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"

	auth0revoke "github.com/jwtrevoke/jwtrevoke/examples/auth0"
	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
)

func TestAuth0MiddlewareRefusesRevokedToken(t *testing.T) {
	b := testbed.New(t)
	v, err := validator.New(
		func(context.Context) (any, error) { return testbed.Secret, nil },
		validator.HS256, testbed.Issuer, []string{testbed.Audience})
	if err != nil {
		t.Fatal(err)
	}
	mw := jwtmiddleware.New(auth0revoke.CheckRevocation(v.ValidateToken, b.Agent))
	h := mw.CheckJWT(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		w.Write([]byte("hello " + c.RegisteredClaims.Subject + "\n"))
	}))

	tok := testbed.Token(t, "auth0-1", "alice")
	if code, body := testbed.Get(t, h, "/api/me", tok); code != http.StatusOK || body != "hello alice\n" {
		t.Fatalf("GET /api/me before revocation = %d %q, want 200 \"hello alice\\n\"", code, body)
	}
	b.Revoke(t, tok)
	if code, body := testbed.Get(t, h, "/api/me", tok); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me after revocation = %d %q, want 401", code, body)
	}
	// Another token of the same user still works: only that jti is revoked.
	if code, _ := testbed.Get(t, h, "/api/me", testbed.Token(t, "auth0-2", "alice")); code != http.StatusOK {
		t.Errorf("GET /api/me with another token = %d, want 200", code)
	}
}
