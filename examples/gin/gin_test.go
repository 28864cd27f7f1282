package ginrevoke_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	ginrevoke "github.com/jwtrevoke/jwtrevoke/examples/gin"
	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

func TestGinRefusesRevokedToken(t *testing.T) {
	gin.SetMode(gin.TestMode)
	b := testbed.New(t)
	auth, err := ginrevoke.Middleware(b.Agent, keyset.Keyfunc(testbed.Keyfunc), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	api := r.Group("/api", auth)
	reached := 0
	api.GET("/me", func(c *gin.Context) {
		reached++
		v, _ := ginrevoke.Verified(c)
		c.String(http.StatusOK, "hello %s\n", v.Token.Subject)
	})

	tok := testbed.Token(t, "gin-1", "alice")
	if code, body := testbed.Get(t, r, "/api/me", tok); code != http.StatusOK || body != "hello alice\n" {
		t.Fatalf("GET /api/me before revocation = %d %q, want 200 \"hello alice\\n\"", code, body)
	}
	b.Revoke(t, tok)
	if code, body := testbed.Get(t, r, "/api/me", tok); code != http.StatusUnauthorized || !strings.Contains(body, `"reason":"revoked"`) {
		t.Errorf("GET /api/me after revocation = %d %q, want 401 reason revoked", code, body)
	}
	if code, _ := testbed.Get(t, r, "/api/me", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me without a token = %d, want 401", code)
	}
	if reached != 1 {
		t.Errorf("handler ran %d times, want once (only for the unrevoked token)", reached)
	}
}
