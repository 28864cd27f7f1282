package chirevoke_test

import (
	"net/http"
	"strings"
	"testing"

	chirevoke "github.com/jwtrevoke/jwtrevoke/examples/chi"
	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
)

func TestChiRefusesRevokedToken(t *testing.T) {
	b := testbed.New(t)
	h, err := chirevoke.NewRouter(b.Agent, testbed.Keyfunc)
	if err != nil {
		t.Fatal(err)
	}
	tok := testbed.Token(t, "chi-1", "alice")
	if code, body := testbed.Get(t, h, "/api/me", tok); code != http.StatusOK || body != "hello alice\n" {
		t.Fatalf("GET /api/me before revocation = %d %q, want 200 \"hello alice\\n\"", code, body)
	}
	b.Revoke(t, tok)
	if code, body := testbed.Get(t, h, "/api/me", tok); code != http.StatusUnauthorized || !strings.Contains(body, `"reason":"revoked"`) {
		t.Errorf("GET /api/me after revocation = %d %q, want 401 reason revoked", code, body)
	}
	if code, _ := testbed.Get(t, h, "/livez", ""); code != http.StatusOK {
		t.Errorf("GET /livez = %d, want 200 (not behind the middleware)", code)
	}
}
