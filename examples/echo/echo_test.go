package echorevoke_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	echorevoke "github.com/jwtrevoke/jwtrevoke/examples/echo"
	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

func TestEchoRefusesRevokedToken(t *testing.T) {
	b := testbed.New(t)
	auth, err := echorevoke.Middleware(b.Agent, keyset.Keyfunc(testbed.Keyfunc), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	reached := 0
	e.GET("/api/me", func(c echo.Context) error {
		reached++
		v, _ := echorevoke.Verified(c)
		return c.String(http.StatusOK, "hello "+v.Token.Subject+"\n")
	}, auth)

	tok := testbed.Token(t, "echo-1", "alice")
	if code, body := testbed.Get(t, e, "/api/me", tok); code != http.StatusOK || body != "hello alice\n" {
		t.Fatalf("GET /api/me before revocation = %d %q, want 200 \"hello alice\\n\"", code, body)
	}
	b.Revoke(t, tok)
	if code, body := testbed.Get(t, e, "/api/me", tok); code != http.StatusUnauthorized || !strings.Contains(body, `"reason":"revoked"`) {
		t.Errorf("GET /api/me after revocation = %d %q, want 401 reason revoked", code, body)
	}
	if reached != 1 {
		t.Errorf("handler ran %d times, want once (only for the unrevoked token)", reached)
	}
}
