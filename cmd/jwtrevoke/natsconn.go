package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// globalFlags are the flags every verb shares. The NATS ones are named as
// in the nats CLI where they mean the same thing.
type globalFlags struct {
	server      string
	creds       string
	tlsCert     string
	tlsKey      string
	tlsCA       string
	stream      string
	maxLifetime time.Duration
	jsonOut     bool
	verbose     bool
}

func (g *globalFlags) register(c *cobra.Command) {
	f := c.PersistentFlags()
	f.StringVarP(&g.server, "server", "s", os.Getenv("NATS_URL"), "NATS server URLs, comma separated (env NATS_URL); serve and demo start an embedded server when empty")
	f.StringVar(&g.creds, "creds", os.Getenv("NATS_CREDS"), "NATS user credentials file (env NATS_CREDS)")
	f.StringVar(&g.tlsCert, "tlscert", "", "TLS client certificate file")
	f.StringVar(&g.tlsKey, "tlskey", "", "TLS client private key file")
	f.StringVar(&g.tlsCA, "tlsca", "", "TLS certificate authority file to verify the server")
	f.StringVar(&g.stream, "stream", publisher.DefaultStream, "revocation stream name")
	f.DurationVar(&g.maxLifetime, "max-lifetime", 24*time.Hour, "longest lifetime of a token the issuers mint (publisher and agents must agree)")
	f.BoolVarP(&g.jsonOut, "json", "j", false, "print JSON instead of text")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail to stderr")
}

func (g *globalFlags) logger() *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// connect dials the configured NATS servers.
func (g *globalFlags) connect(ctx context.Context, name string) (*nats.Conn, error) {
	if g.server == "" {
		return nil, fmt.Errorf("no NATS server: pass --server (or set NATS_URL)")
	}
	return g.dial(ctx, g.server, name)
}

func (g *globalFlags) dial(ctx context.Context, url, name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if g.creds != "" {
		opts = append(opts, nats.UserCredentials(g.creds))
	}
	if g.tlsCert != "" || g.tlsKey != "" {
		opts = append(opts, nats.ClientCert(g.tlsCert, g.tlsKey))
	}
	if g.tlsCA != "" {
		opts = append(opts, nats.RootCAs(g.tlsCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(url), err)
	}
	return nc, nil
}

// isLoopback reports whether host (a name or an IP address, without a
// port) is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// embedded starts the development default: a nats-server with JetStream
// in this process, storing under dir and listening for other clients on
// listen (host:port). It holds the store's lock (lockStore) while the
// server runs, so a second process on the same store refuses to start.
func embedded(dir, listen string, log *slog.Logger) (*server.Server, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: bad port", listen)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	release, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	s, err := natsserver.Start(natsserver.Config{StoreDir: dir, Host: host, Port: p, Name: "jwtrevoke"})
	if err != nil {
		release()
		return nil, err
	}
	// The store is this process's until the server has shut down.
	go func() { s.WaitForShutdown(); release() }()
	log.Info("embedded NATS server with JetStream", "url", s.ClientURL(), "store", dir)
	return s, nil
}

// redactURLs hides the passwords of NATS URLs (comma separated) for logs
// and errors.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
