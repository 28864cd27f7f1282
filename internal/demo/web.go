package demo

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"strings"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/oauth"
)

// webFS is the demo page: plain HTML, CSS and JavaScript, no external
// assets.
//
//go:embed web
var webFS embed.FS

// issuerHandler routes the issuer's port: the page, the token endpoints,
// RFC 7009 revocation, RFC 7662 introspection and the page's status feed.
func (d *instance) issuerHandler() (http.Handler, error) {
	origins := d.pageOrigins()
	revoke, err := oauth.NewRevocationHandler(d.pub, d.is.verifier,
		oauth.WithClientCredentials(d.clientID, d.clientSecret),
		oauth.WithPublicClient(origins...),
		oauth.WithRefreshTokens(d.is.revokeRefresh))
	if err != nil {
		return nil, err
	}
	// RFC 7662 §2.1 and §4: introspection answers authenticated clients
	// only (the page never calls it); revocation stays open to whoever
	// holds a token (RFC 7009 allows public clients).
	introspect, err := oauth.NewIntrospectionHandler(d.ia, d.is.verifier,
		oauth.WithClientCredentials(d.clientID, d.clientSecret))
	if err != nil {
		return nil, err
	}
	web, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	static := http.FileServerFS(web)

	mux := http.NewServeMux()
	d.is.routes(mux)
	mux.Handle("/revoke", revoke)
	mux.Handle("/introspect", introspect)
	mux.HandleFunc("GET /api/status", d.handleStatus)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Health(w, d.ia.Health(), nil)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		d.pageHeaders(w, r)
		static.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		d.pageHeaders(w, r)
		static.ServeHTTP(w, r)
	})
	return mux, nil
}

// pageOrigins are the origins the page may be loaded from, for the RFC
// 7009 and RFC 7662 handlers' CORS: the issuer's host, every loopback name
// when it listens on loopback, any origin when it listens on all
// interfaces.
func (d *instance) pageOrigins() []string {
	host, port, _ := net.SplitHostPort(d.cfg.listen)
	switch {
	case host == "" || host == "0.0.0.0" || host == "::":
		return []string{"*"}
	case clitool.IsLoopback(host):
		return []string{"http://127.0.0.1:" + port, "http://localhost:" + port, "http://[::1]:" + port}
	}
	return []string{"http://" + net.JoinHostPort(host, port)}
}

// pageHeaders sets the page's security headers. Its scripts may talk to
// the issuer and to the replicas, on the host the browser used.
func (d *instance) pageHeaders(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	connect := []string{"'self'"}
	for _, rep := range d.reps {
		_, port, _ := net.SplitHostPort(rep.addr)
		connect = append(connect, "http://"+net.JoinHostPort(host, port))
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src "+strings.Join(connect, " ")+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
