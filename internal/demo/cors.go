package demo

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// corsPolicy lets the demo page, served by the issuer, call the replicas.
// It allows the issuer's origin: its host, or any loopback name when the
// issuer listens on loopback, or any host when it listens on all
// interfaces, always with the issuer's port.
type corsPolicy struct {
	host string // the issuer's listen host
	port string
}

func newCORSPolicy(issuerListen string) (*corsPolicy, error) {
	host, port, err := net.SplitHostPort(issuerListen)
	if err != nil {
		return nil, err
	}
	return &corsPolicy{host: host, port: port}, nil
}

func (c *corsPolicy) allowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Port() != c.port || u.Path != "" {
		return false
	}
	h := u.Hostname()
	switch {
	case strings.EqualFold(h, c.host):
		return true
	case clitool.IsLoopback(c.host) && clitool.IsLoopback(h):
		return true
	case c.host == "" || c.host == "0.0.0.0" || c.host == "::":
		return true
	}
	return false
}

func (c *corsPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !c.allowed(origin) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization")
			h.Set("Access-Control-Max-Age", strconv.Itoa(600))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
