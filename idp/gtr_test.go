package idp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/idp"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

const gtrToken = "security-tool-token-0123456789"

// TestGlobalTokenRevocation: an authenticated request with a subject
// identifier the map resolves cuts that subject off (204); everything
// else gets the draft's error and revokes nothing.
func TestGlobalTokenRevocation(t *testing.T) {
	e := newLogoutEnv(t)
	subjects := idp.DefaultSubjectMap(issuer)
	subjects.Claims["email"] = "sub"
	h, err := idp.NewGlobalTokenRevocation(e.pub, subjects, func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer "+gtrToken
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	send := func(auth, ct, body string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	auth, js := "Bearer "+gtrToken, "application/json"
	for _, tc := range []struct {
		name, auth, ct, body string
		status               int
	}{
		{"no credentials", "", js, `{"sub_id":{"format":"opaque","id":"alice"}}`, 401},
		{"wrong credentials", "Bearer nope", js, `{"sub_id":{"format":"opaque","id":"alice"}}`, 401},
		{"not JSON", auth, "application/x-www-form-urlencoded", "sub_id=alice", 400},
		{"broken JSON", auth, js, `{"sub_id":`, 400},
		{"two values", auth, js, `{"sub_id":{"format":"opaque","id":"a"}} {}`, 400},
		{"no sub_id", auth, js, `{}`, 400},
		{"sub_id a string", auth, js, `{"sub_id":"alice"}`, 400},
		{"sub_id and subject", auth, js, `{"sub_id":{"format":"opaque","id":"a"},"subject":{"format":"opaque","id":"a"}}`, 400},
		{"unknown format", auth, js, `{"sub_id":{"format":"handle","handle":"@alice"}}`, 400},
		{"unmapped format", auth, js, `{"sub_id":{"format":"phone_number","phone_number":"+12065550100"}}`, 400},
		{"id a number", auth, js, `{"sub_id":{"format":"opaque","id":42}}`, 400},
		{"empty id", auth, js, `{"sub_id":{"format":"opaque","id":""}}`, 400},
		{"iss_sub of another issuer", auth, js, `{"sub_id":{"format":"iss_sub","iss":"https://evil.example","sub":"alice"}}`, 404},
		{"aliases inside aliases", auth, js, `{"sub_id":{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[]}]}}`, 400},
	} {
		if st, body := send(tc.auth, tc.ct, tc.body); st != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, st, body, tc.status)
		}
	}
	if seq := e.seqs(); seq != 0 {
		t.Fatalf("refused requests wrote %d revocations", seq)
	}
	before := time.Now().Add(-time.Second)
	for _, tc := range []struct{ body, sub string }{
		{`{"sub_id":{"format":"iss_sub","iss":"https://id.example","sub":"alice"}}`, "alice"},
		{`{"sub_id":{"format":"opaque","id":"bob"}}`, "bob"},
		{`{"sub_id":{"format":"email","email":"carol@example.com"}}`, "carol@example.com"},
		{`{"subject":{"format":"opaque","id":"dave"}}`, "dave"},
		{`{"sub_id":{"format":"aliases","identifiers":[{"format":"phone_number","phone_number":"+1"},{"format":"opaque","id":"erin"}]}}`, "erin"},
	} {
		if st, body := send(auth, js, tc.body); st != 204 {
			t.Fatalf("%s: %d %s, want 204", tc.body, st, body)
		}
		testkit.WaitApplied(t, e.a, e.seqs())
		if e.a.Check(accessToken("at-"+tc.sub, tc.sub, "", before)).Allowed {
			t.Errorf("%s: %s's earlier token still passes", tc.body, tc.sub)
		}
	}
	if !e.a.Check(accessToken("at-frank", "frank", "", before)).Allowed {
		t.Error("an unnamed subject's token is refused")
	}
	mfs := testkit.Gather(t, h.Collector())
	for outcome, want := range map[string]float64{"revoked": 5, "unauthorized": 2, "unknown_issuer": 1} {
		if got, _ := testkit.MetricValue(mfs, "jwtrevoke_global_token_revocation_total", "outcome", outcome); got != want {
			t.Errorf("outcome %s counted %v, want %v", outcome, got, want)
		}
	}
}
