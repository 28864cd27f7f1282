package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The handlers' own tests (publisher and agent) cover the answers end to
// end; these cover what they cannot see: which client accept names.
func TestAcceptNamesTheClient(t *testing.T) {
	e := endpoint{name: "test", maxBody: 1 << 10}
	for _, c := range [][2]string{{"gw", "gw-secret"}, {"a b:c", "s%&:"}, {"rs", "rs-secret"}} {
		if err := e.addClient(c[0], c[1]); err != nil {
			t.Fatalf("addClient(%q) = %v", c[0], err)
		}
	}
	form := func(v url.Values) string { return v.Encode() }
	tests := []struct {
		name       string
		basic      []string // id, secret as sent: already form-urlencoded
		body       string
		wantID     string
		wantStatus int // of the refusal; 0: accepted
	}{
		{"basic", []string{"rs", "rs-secret"}, "token=x", "rs", 0},
		{"basic, form-urlencoded", []string{url.QueryEscape("a b:c"), url.QueryEscape("s%&:")}, "token=x", "a b:c", 0},
		{"basic, not form-urlencoded", []string{"gw", "%zz"}, "token=x", "", http.StatusUnauthorized},
		{"body", nil, form(url.Values{"token": {"x"}, "client_id": {"gw"}, "client_secret": {"gw-secret"}}), "gw", 0},
		{"another client's secret", []string{"gw", "rs-secret"}, "token=x", "", http.StatusUnauthorized},
		{"none", nil, "token=x", "", http.StatusUnauthorized},
		{"both", []string{"gw", "gw-secret"}, "token=x&client_id=gw&client_secret=gw-secret", "", http.StatusBadRequest},
		{"repeated parameter", []string{"gw", "gw-secret"}, "token=x&token=y", "", http.StatusBadRequest},
		{"too large", []string{"gw", "gw-secret"}, "token=" + strings.Repeat("x", 1<<10), "", http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.basic != nil {
			r.SetBasicAuth(tt.basic[0], tt.basic[1])
		}
		w := httptest.NewRecorder()
		if e.begin(w, r) {
			t.Fatalf("%s: begin answered a POST", tt.name)
		}
		id, refused := e.accept(w, r)
		status := 0
		if refused != nil {
			status = refused.Status
		}
		if id != tt.wantID || status != tt.wantStatus {
			t.Errorf("%s: accept = %q, %+v; want %q, status %d", tt.name, id, refused, tt.wantID, tt.wantStatus)
		}
	}
}

func TestPublicClient(t *testing.T) {
	e := endpoint{name: "test", maxBody: 1 << 10}
	if e.hasClients() {
		t.Fatal("hasClients() = true before any client, want false")
	}
	if err := e.allowPublic("https://app.example.com:8443"); err != nil || !e.hasClients() {
		t.Fatalf("allowPublic = %v, hasClients() = %v; want nil, true", err, e.hasClients())
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("token=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, refused := e.accept(httptest.NewRecorder(), r); id != "public" || refused != nil {
		t.Errorf("accept(no credentials) = %q, %+v; want public", id, refused)
	}
	for _, o := range []string{"app.example.com", "https://app.example.com/", "https://u@app.example.com", "ftp://x"} {
		if err := e.allowPublic(o); err == nil {
			t.Errorf("allowPublic(%q) = nil, want an error", o)
		}
	}
}
