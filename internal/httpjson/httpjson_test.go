package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
)

// TestErrorUnescaped: error bodies keep <, > and & as they are, on one
// line, and are not cached.
func TestErrorUnescaped(t *testing.T) {
	w := httptest.NewRecorder()
	Error(w, http.StatusBadRequest, "invalid_request", "want Authorization: Bearer <token> & a body")
	body := w.Body.String()
	if want := `{"error":"invalid_request","error_description":"want Authorization: Bearer <token> & a body"}` + "\n"; body != want {
		t.Errorf("Error body = %q, want %q", body, want)
	}
	if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Error = %d %v, want 400, application/json, no-store", w.Code, w.Header())
	}
}

// TestHealth: the readiness answer is 200 only for an agent that is ready
// and fresh; its body is the agent's Health, a reason when it is not OK,
// and the endpoint's own fields, which cannot replace Health's.
func TestHealth(t *testing.T) {
	for i, tc := range []struct {
		h          agent.Health
		extra      map[string]any
		wantStatus int
		wantReason string
	}{
		{agent.Health{Ready: true, Staleness: 20 * time.Millisecond, LastApplied: 7}, map[string]any{"replica": 2}, http.StatusOK, ""},
		{agent.Health{Ready: false, Stale: true, Staleness: time.Second}, nil, http.StatusServiceUnavailable, "not_ready: replaying"},
		{agent.Health{Ready: true, Stale: true, Staleness: 6 * time.Second, LastApplied: 9}, map[string]any{"ready": "overridden?"}, http.StatusServiceUnavailable, "stale: the revocation stream has not been heard from for 6s"},
	} {
		w := httptest.NewRecorder()
		Health(w, tc.h, tc.extra)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("step %d: body %q: %v", i, w.Body, err)
		}
		reason, _ := body["reason"].(string)
		if w.Code != tc.wantStatus || body["ready"] != tc.h.Ready || body["stale"] != tc.h.Stale ||
			body["staleness_ms"] != float64(tc.h.Staleness.Milliseconds()) || body["last_applied"] != float64(tc.h.LastApplied) ||
			(tc.wantReason == "") != (reason == "") || !strings.Contains(reason, tc.wantReason) {
			t.Errorf("step %d: Health(%+v) = %d %s; want %d, the health's fields, reason ~%q", i, tc.h, w.Code, w.Body, tc.wantStatus, tc.wantReason)
		}
		for k, v := range tc.extra {
			if k != "ready" && body[k] != float64(v.(int)) {
				t.Errorf("step %d: body[%q] = %v, want %v", i, k, body[k], v)
			}
		}
	}
}
