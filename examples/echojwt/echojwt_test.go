package echojwtrevoke_test

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"

	echojwtrevoke "github.com/jwtrevoke/jwtrevoke/examples/echojwt"
	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
)

func TestEchoJWTRefusesRevokedToken(t *testing.T) {
	b := testbed.New(t)
	e := echo.New()
	e.Use(echojwt.WithConfig(echojwt.Config{
		ParseTokenFunc: echojwtrevoke.ParseTokenFunc(b.Agent, testbed.Keyfunc, []string{"HS256"}),
	}))
	e.GET("/api/me", func(c echo.Context) error {
		sub, _ := c.Get("user").(*jwt.Token).Claims.GetSubject()
		return c.String(http.StatusOK, "hello "+sub+"\n")
	})

	tok := testbed.Token(t, "echojwt-1", "alice")
	if code, body := testbed.Get(t, e, "/api/me", tok); code != http.StatusOK || body != "hello alice\n" {
		t.Fatalf("GET /api/me before revocation = %d %q, want 200 \"hello alice\\n\"", code, body)
	}
	b.Revoke(t, tok)
	if code, body := testbed.Get(t, e, "/api/me", tok); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me after revocation = %d %q, want 401", code, body)
	}
	if code, _ := testbed.Get(t, e, "/api/me", testbed.Token(t, "echojwt-2", "alice")); code != http.StatusOK {
		t.Errorf("GET /api/me with another token = %d, want 200", code)
	}
}
