// Package httpjson writes the JSON answers of the jwtrevoke command's own
// HTTP endpoints, serve's and the demo's: one encoding, one error body and
// one readiness answer, so that every endpoint says the same thing the
// same way. (The RFC 7009 and RFC 7662 handlers of package oauth, and
// verify's middleware, write their own, as those standards ask.)
//
// Its functions hold no state and are safe for use by multiple goroutines.
package httpjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
)

// Write writes v as the JSON answer with status: Content-Type
// application/json, Cache-Control no-store (these answers are about now),
// on one line, with <, > and & as they are (error descriptions say
// <admin token>; revocation subjects end in ">").
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Error writes the error body {"error":code,"error_description":desc}
// with status, the shape RFC 6749 §5.2 gives OAuth errors.
func Error(w http.ResponseWriter, status int, code, desc string) {
	Write(w, status, map[string]string{"error": code, "error_description": desc})
}

// Health answers a readiness probe (GET /readyz) from the agent's health:
// 200 when h.OK(), else 503. The body is h as JSON (ready, stale,
// staleness_ms, last_applied), a reason when h is not OK, and the fields
// of extra (nil for none), which add to h's and never replace them.
func Health(w http.ResponseWriter, h agent.Health, extra map[string]any) {
	body := map[string]any{}
	for k, v := range extra {
		body[k] = v
	}
	if reason := healthReason(h); reason != "" {
		body["reason"] = reason
	}
	for k, v := range healthFields(h) {
		body[k] = v
	}
	status := http.StatusOK
	if !h.OK() {
		status = http.StatusServiceUnavailable
	}
	Write(w, status, body)
}

// healthReason says why h is not OK; "" when it is.
func healthReason(h agent.Health) string {
	switch {
	case !h.Ready:
		return "not_ready: replaying the revocation stream"
	case h.Stale:
		return fmt.Sprintf("stale: the revocation stream has not been heard from for %v", h.Staleness.Round(time.Millisecond))
	}
	return ""
}

// healthFields are the fields of h's JSON, its numbers as written.
func healthFields(h agent.Health) map[string]any {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // agent.Health marshals plain fields: it cannot fail
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}
