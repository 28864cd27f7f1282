package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jwtrevoke/jwtrevoke"
)

// Error is why a token was refused: what Verify returns and what the
// middleware passes to its ErrorHandler. Match it with errors.As; the
// underlying cause (a jwt error, keyset.ErrUnknownKey,
// jwtrevoke.ErrMalformedClaims) with errors.Is.
type Error struct {
	Reason jwtrevoke.Reason
	Err    error // the underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Reason) + ": " + e.Err.Error()
	}
	return string(e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorHandler writes the response for a refused request.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)

// DefaultErrorHandler answers 401 with an RFC 6750 WWW-Authenticate header
// and a small JSON body: {"error":"invalid_token","error_description":…,
// "reason":…}. A request without a token gets the bare challenge, as RFC
// 6750 asks.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, err *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	body := map[string]string{"error": "invalid_token", "error_description": err.Reason.Description(), "reason": string(err.Reason)}
	if err.Reason == jwtrevoke.ReasonMissing {
		h.Set("WWW-Authenticate", `Bearer`)
		body["error"] = "unauthorized"
	} else {
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, err.Reason.Description()))
	}
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(body)
}

// AsError returns err as an *Error: the one err wraps, or, for an error
// that is not one, an *Error of ReasonInvalid wrapping it. It returns nil
// for a nil err.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Reason: jwtrevoke.ReasonInvalid, Err: err}
}
