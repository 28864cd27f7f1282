package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDemoJSONUnescaped: the demo's JSON error bodies keep <, > and & as
// they are.
func TestDemoJSONUnescaped(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, http.StatusBadRequest, "invalid_request", "want Authorization: Bearer <token> & a body")
	if body := w.Body.String(); !strings.Contains(body, "Bearer <token> & a body") {
		t.Errorf("writeError body = %s, want <, > and & unescaped", body)
	}
}
