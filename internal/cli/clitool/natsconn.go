package clitool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultServer is where the verbs look for NATS when neither --server nor
// NATS_URL names a server: where the nats CLI looks, and where serve and
// demo put their embedded server by default (--nats-listen).
const DefaultServer = "nats://127.0.0.1:4222"

// ServerURL returns the NATS servers the verbs connect to: --server, else
// NATS_URL, else DefaultServer.
func (g *Globals) ServerURL() string {
	if g.Server != "" {
		return g.Server
	}
	if env := os.Getenv("NATS_URL"); env != "" {
		return env
	}
	return DefaultServer
}

// NamesServer reports whether --server or NATS_URL names a NATS server;
// without either, serve starts an embedded one.
func (g *Globals) NamesServer() bool {
	return g.Server != "" || os.Getenv("NATS_URL") != ""
}

// Connect dials the configured NATS servers (ServerURL) as the client
// name; extra options come after the flags'.
func (g *Globals) Connect(ctx context.Context, name string, extra ...nats.Option) (*nats.Conn, error) {
	nc, err := g.Dial(ctx, g.ServerURL(), name, extra...)
	if err != nil && !g.NamesServer() {
		return nil, fmt.Errorf("%w (the default server: pass --server or set NATS_URL for another)", err)
	}
	return nc, err
}

// Dial connects to the NATS servers url with the flags' credentials and
// TLS files, reconnecting forever once connected. Its errors say when what
// answered is not a NATS server.
func (g *Globals) Dial(ctx context.Context, url, name string, extra ...nats.Option) (*nats.Conn, error) {
	if err := checkNATSURLs(url); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if g.Creds != "" {
		opts = append(opts, nats.UserCredentials(g.Creds))
	}
	if g.TLSCert != "" || g.TLSKey != "" {
		opts = append(opts, nats.ClientCert(g.TLSCert, g.TLSKey))
	}
	if g.TLSCA != "" {
		opts = append(opts, nats.RootCAs(g.TLSCA))
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, nats.ErrNoInfoReceived):
		// Something answered, but not with a NATS server's INFO greeting:
		// an HTTP server closes the connection, others say something else.
		return nil, fmt.Errorf("connecting to NATS at %s: not a NATS server: it did not greet with INFO (%w)", RedactURLs(url), err)
	case err != nil && readFailed(err):
		return nil, fmt.Errorf("connecting to NATS at %s: not a NATS server? It took the connection but sent no INFO greeting (%w)", RedactURLs(url), err)
	case err != nil:
		return nil, fmt.Errorf("connecting to NATS at %s: %w", RedactURLs(url), err)
	}
	return nc, nil
}

// readFailed reports whether err is a failure to read from a connection
// that was made (not to dial one).
func readFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// checkNATSURLs refuses, as a usage error, server URLs that name another
// protocol (http://, https://; ws:// is NATS over WebSocket and fine),
// before a connection times out on them.
func checkNATSURLs(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		scheme, _, ok := strings.Cut(u, "://")
		if !ok {
			continue // host:port, which nats.go reads as nats://
		}
		switch strings.ToLower(scheme) {
		case "http", "https":
			return Usage(fmt.Errorf("--server %s: not a NATS server URL (use nats://host:4222)", RedactURLs(u)))
		}
	}
	return nil
}

// RedactURLs hides the passwords of NATS URLs (comma separated) for logs
// and errors.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// IsLoopback reports whether host (a name or an IP address, without a
// port) is localhost or a loopback address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
