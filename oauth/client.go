package oauth

// Who may call an endpoint, and how its requests are read.
//
// An endpoint holds who may call: confidential clients, authenticated with
// HTTP Basic (RFC 6749 §2.3.1) or client_id and client_secret in the body
// and compared in constant time, and optionally public clients, with CORS
// for the web origins allowed. A handler calls begin, then accept, then
// reads its own parameters from r.PostForm; writeError writes the RFC 6749
// §5.2 error bodies.
//
// An endpoint is configured (addClient, allowPublic) before it serves and
// only read after, so begin and accept are safe for use by multiple
// goroutines; addClient and allowPublic are not.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// endpoint says who may call one OAuth endpoint and how its requests are
// read. The zero value admits nobody and reads no body: set name and
// maxBody, then add clients.
type endpoint struct {
	// name names the endpoint in the 405 answer: "the <Name> endpoint
	// takes POST".
	name string
	// maxBody is the largest request body read, in bytes; a larger one is
	// refused with 413.
	maxBody int64

	clients []client
	public  bool
	origins map[string]bool // allowed CORS origins; "*" allows any
}

// client is one confidential client. Both digests are SHA-256, so that
// comparing them takes the same time whatever the lengths of the id and
// secret presented.
type client struct {
	id     string
	idHash [32]byte
	secret [32]byte
}

// addClient lets the confidential client id authenticate with secret. It
// refuses an empty id or secret, an id longer than 128 bytes and an id
// added before; the caller wraps the error in its own ErrBadOption.
func (e *endpoint) addClient(id, secret string) error {
	switch {
	case id == "" || secret == "":
		return errors.New("client id and secret must not be empty")
	case len(id) > 128:
		return errors.New("client id longer than 128 bytes")
	}
	for _, cl := range e.clients {
		if cl.id == id {
			return fmt.Errorf("client %q given twice", id)
		}
	}
	e.clients = append(e.clients, client{id: id, idHash: sha256.Sum256([]byte(id)), secret: sha256.Sum256([]byte(secret))})
	return nil
}

// allowPublic admits requests without client authentication, and lets
// pages from allowedOrigins (scheme://host[:port], or "*" for any) call
// the endpoint from a browser. It refuses an origin of another form; the
// caller wraps the error in its own ErrBadOption.
func (e *endpoint) allowPublic(allowedOrigins ...string) error {
	e.public = true
	for _, o := range allowedOrigins {
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return fmt.Errorf("CORS origin %q is not scheme://host[:port]", o)
			}
		}
		if e.origins == nil {
			e.origins = map[string]bool{}
		}
		e.origins[o] = true
	}
	return nil
}

// hasClients reports whether anyone may call the endpoint: a confidential
// client, or public clients.
func (e *endpoint) hasClients() bool {
	return len(e.clients) > 0 || e.public
}

// begin sets the headers every answer carries (Cache-Control: no-store,
// and the CORS headers of an allowed origin) and answers a CORS preflight.
// It reports whether it answered: then the handler is done.
func (e *endpoint) begin(w http.ResponseWriter, r *http.Request) bool {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	originOK := e.cors(w, r)
	if r.Method != http.MethodOptions || len(e.origins) == 0 {
		return false
	}
	if !originOK || r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
		// No CORS headers: the browser refuses the request.
		w.WriteHeader(http.StatusForbidden)
		return true
	}
	hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// A refusal is a request that accept refused, as an RFC 6749 §5.2 error.
// The headers that go with it (Allow, WWW-Authenticate) are set already:
// the handler counts it and writes it with writeError.
type refusal struct {
	Status      int    // 400, 401, 405, 413 or 415
	Code        string // "invalid_request" or, with 401, "invalid_client"
	Description string
}

// accept checks a request after begin: the method (POST), the content type
// (application/x-www-form-urlencoded), the body's size, the form (which it
// parses into r.PostForm, refusing a parameter given twice, RFC 6749 §3.2)
// and the client. It returns the authenticated client's id, or "public" for
// a public client that presented no credentials; or the refusal.
func (e *endpoint) accept(w http.ResponseWriter, r *http.Request) (clientID string, _ *refusal) {
	if r.Method != http.MethodPost {
		allow := "POST"
		if len(e.origins) > 0 {
			allow = "POST, OPTIONS"
		}
		w.Header().Set("Allow", allow)
		return "", &refusal{http.StatusMethodNotAllowed, "invalid_request", "the " + e.name + " endpoint takes POST"}
	}
	if status, desc := e.readForm(w, r); status != 0 {
		return "", &refusal{status, "invalid_request", desc}
	}
	id, status, desc := e.authenticate(r)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="jwtrevoke"`)
		return "", &refusal{status, "invalid_client", desc}
	case http.StatusBadRequest:
		return "", &refusal{status, "invalid_request", desc}
	}
	return id, nil
}

// writeError writes an RFC 6749 §5.2 error body:
// {"error":code,"error_description":desc}.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
}

// writeJSON writes v as the JSON body of an answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// cors adds the CORS headers of an allowed origin and reports whether the
// request's origin is allowed.
func (e *endpoint) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(e.origins) == 0 {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return false
	case e.origins["*"]:
		hdr.Set("Access-Control-Allow-Origin", "*")
	case e.origins[origin]:
		hdr.Set("Access-Control-Allow-Origin", origin)
	default:
		return false
	}
	return true
}

// readForm checks the content type, reads at most maxBody bytes of form
// into r.PostForm, and refuses repeated parameters. It returns 0, or the
// status and description of the failure.
func (e *endpoint) readForm(w http.ResponseWriter, r *http.Request) (int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return http.StatusUnsupportedMediaType, "the body must be application/x-www-form-urlencoded"
	}
	r.Body = http.MaxBytesReader(w, r.Body, e.maxBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", e.maxBody)
		}
		return http.StatusBadRequest, "the body is not a valid form"
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return http.StatusBadRequest, fmt.Sprintf("parameter %q given more than once", k)
		}
	}
	return 0, ""
}

// authenticate identifies the client. It returns its ID ("public" for an
// unauthenticated public client) and 0, or the status and description of
// the failure: 401 for missing or bad credentials, 400 for a request that
// uses two authentication methods at once.
func (e *endpoint) authenticate(r *http.Request) (string, int, string) {
	var id, secret string
	presented := false
	if h := r.Header.Get("Authorization"); len(h) > 6 && strings.EqualFold(h[:6], "basic ") {
		u, p, ok := r.BasicAuth()
		if !ok {
			return "", http.StatusUnauthorized, "malformed Basic credentials"
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return "", http.StatusUnauthorized, "Basic credentials are not form-urlencoded"
		}
		presented = true
	}
	if _, ok := r.PostForm["client_secret"]; ok {
		if presented {
			return "", http.StatusBadRequest, "client credentials given in both the Authorization header and the body"
		}
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		presented = true
	}
	if !presented {
		if e.public {
			return "public", 0, ""
		}
		return "", http.StatusUnauthorized, "client authentication required"
	}
	idHash, secHash := sha256.Sum256([]byte(id)), sha256.Sum256([]byte(secret))
	match := -1
	for i, cl := range e.clients { // no early exit: the time does not depend on which client matched
		if subtle.ConstantTimeCompare(idHash[:], cl.idHash[:])&subtle.ConstantTimeCompare(secHash[:], cl.secret[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", http.StatusUnauthorized, "client authentication failed"
	}
	return e.clients[match].id, 0, ""
}
