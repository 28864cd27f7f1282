package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// defaultServer is where the verbs look for NATS when neither --server nor
// NATS_URL names a server: where the nats CLI looks, and where serve and
// demo put their embedded server by default (--nats-listen).
const defaultServer = "nats://127.0.0.1:4222"

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
	prefix      string // --subject-prefix
	jsonOut     bool
	verbose     bool
}

func (g *globalFlags) register(c *cobra.Command) {
	f := c.PersistentFlags()
	f.StringVarP(&g.server, "server", "s", "", "NATS server URLs, comma separated (default: env NATS_URL, else "+defaultServer+"); without --server, demo starts an embedded server, and so does serve when NATS_URL is unset too")
	f.StringVar(&g.creds, "creds", os.Getenv("NATS_CREDS"), "NATS user credentials file (env NATS_CREDS)")
	f.StringVar(&g.tlsCert, "tlscert", "", "TLS client certificate file")
	f.StringVar(&g.tlsKey, "tlskey", "", "TLS client private key file")
	f.StringVar(&g.tlsCA, "tlsca", "", "TLS certificate authority file to verify the server")
	f.StringVar(&g.stream, "stream", jwtrevoke.DefaultStream, "revocation stream name")
	f.DurationVar(&g.maxLifetime, "max-lifetime", 0, "longest lifetime of a token the issuers mint; part of the stream's contract, which the publisher that creates the stream writes into it (default: the stream's contract; 24h for a new stream)")
	f.StringVar(&g.prefix, "subject-prefix", "", "subject prefix of the revocation events, part of the stream's contract like --max-lifetime; a second revocation stream on the same NATS needs one that does not overlap the first's, such as staging.jwtrevoke.v1 beside jwtrevoke.v1 (default: the stream's contract; "+jwtrevoke.DefaultSubjectPrefix+" for a new stream)")
	f.BoolVarP(&g.jsonOut, "json", "j", false, "print JSON instead of text")
	f.BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail to stderr")
}

// agentContract returns the agent options of the contract flags: none
// unless --max-lifetime was given, so the agent follows the stream.
func (g *globalFlags) agentContract() []agent.Option {
	var opts []agent.Option
	if g.maxLifetime != 0 {
		opts = append(opts, agent.WithMaxTokenLifetime(g.maxLifetime))
	}
	if g.prefix != "" {
		opts = append(opts, agent.WithSubjectPrefix(g.prefix))
	}
	return opts
}

// publisherContract is agentContract for a publisher: a new stream gets
// --max-lifetime (or the default), an existing one is followed.
func (g *globalFlags) publisherContract() []publisher.Option {
	var opts []publisher.Option
	if g.maxLifetime != 0 {
		opts = append(opts, publisher.WithMaxTokenLifetime(g.maxLifetime))
	}
	if g.prefix != "" {
		opts = append(opts, publisher.WithSubjectPrefix(g.prefix))
	}
	return opts
}

// streamContract returns the contract of the stream configured as sc: the
// one in its metadata, which --max-lifetime may not contradict, or for a
// stream without one the flags' (and defaults').
func (g *globalFlags) streamContract(sc jetstream.StreamConfig) (c jwtrevoke.Contract, fromStream bool, err error) {
	c, ok, err := jwtrevoke.ContractFromMetadata(sc.Metadata)
	if err != nil {
		return c, false, fmt.Errorf("stream %q: %w", sc.Name, err)
	}
	if !ok {
		c = jwtrevoke.DefaultContract()
		if g.maxLifetime != 0 {
			c.MaxTokenLifetime = g.maxLifetime
		}
		if g.prefix != "" {
			c.SubjectPrefix = g.prefix
		}
		return c, false, nil
	}
	if g.prefix != "" && g.prefix != c.SubjectPrefix {
		return c, true, fmt.Errorf("%w: --subject-prefix %s, but the stream %q says %s (leave --subject-prefix out to follow the stream)", jwtrevoke.ErrContract, g.prefix, sc.Name, c.SubjectPrefix)
	}
	if g.maxLifetime != 0 && g.maxLifetime != c.MaxTokenLifetime {
		return c, true, fmt.Errorf("%w: --max-lifetime %v, but the stream %q says %v (leave --max-lifetime out to follow the stream)", jwtrevoke.ErrContract, g.maxLifetime, sc.Name, c.MaxTokenLifetime)
	}
	return c, true, nil
}

// cliContractFlag names --max-lifetime and --subject-prefix in an error of
// a publisher or agent that refused them as contradicting the stream's
// contract, and says what to do when a new stream's subjects overlap
// another's (cliStreamOverlap).
func cliContractFlag(g *globalFlags, err error) error {
	switch {
	case errors.Is(err, jwtrevoke.ErrContract) && g.maxLifetime != 0 && g.prefix != "":
		return fmt.Errorf("--max-lifetime %v, --subject-prefix %s: %w", g.maxLifetime, g.prefix, err)
	case errors.Is(err, jwtrevoke.ErrContract) && g.maxLifetime != 0:
		return fmt.Errorf("--max-lifetime %v: %w", g.maxLifetime, err)
	case errors.Is(err, jwtrevoke.ErrContract) && g.prefix != "":
		return fmt.Errorf("--subject-prefix %s: %w", g.prefix, err)
	}
	return cliStreamOverlap(g, err)
}

// cliStreamOverlap explains the server's refusal to create a second
// revocation stream whose subjects overlap the first's: it needs a subject
// prefix of its own.
func cliStreamOverlap(g *globalFlags, err error) error {
	const streamSubjectOverlap = 10065 // nats-server's JSStreamSubjectOverlapErr
	var api *jetstream.APIError
	if !errors.As(err, &api) || api.ErrorCode != streamSubjectOverlap {
		return err
	}
	prefix := g.prefix
	if prefix == "" {
		prefix = jwtrevoke.DefaultSubjectPrefix
	}
	return fmt.Errorf("%w: another stream on this server already takes the subjects %s, so stream %q needs its own: give it --subject-prefix (e.g. --subject-prefix %s.%s), and the same --stream and --subject-prefix to every verb, serve and agent that uses it",
		err, jwtrevoke.SubjectFilter(prefix), g.stream, strings.ToLower(g.stream), jwtrevoke.DefaultSubjectPrefix)
}

func (g *globalFlags) logger() *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// serverURL returns the NATS servers the verbs connect to: --server, else
// NATS_URL, else defaultServer.
func (g *globalFlags) serverURL() string {
	if g.server != "" {
		return g.server
	}
	if env := os.Getenv("NATS_URL"); env != "" {
		return env
	}
	return defaultServer
}

// connect dials the configured NATS servers (serverURL); extra options
// come after the flags'.
func (g *globalFlags) connect(ctx context.Context, name string, extra ...nats.Option) (*nats.Conn, error) {
	url := g.serverURL()
	nc, err := g.dial(ctx, url, name, extra...)
	if err != nil && g.server == "" && os.Getenv("NATS_URL") == "" {
		return nil, fmt.Errorf("%w (the default server: pass --server or set NATS_URL for another)", err)
	}
	return nc, err
}

func (g *globalFlags) dial(ctx context.Context, url, name string, extra ...nats.Option) (*nats.Conn, error) {
	if err := cliCheckNATSURLs(url); err != nil {
		return nil, err
	}
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
	nc, err := nats.Connect(url, append(opts, extra...)...)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, nats.ErrNoInfoReceived):
		// Something answered, but not with a NATS server's INFO greeting:
		// an HTTP server closes the connection, others say something else.
		return nil, fmt.Errorf("connecting to NATS at %s: not a NATS server: it did not greet with INFO (%w)", redactURLs(url), err)
	case err != nil && cliReadFailed(err):
		return nil, fmt.Errorf("connecting to NATS at %s: not a NATS server? It took the connection but sent no INFO greeting (%w)", redactURLs(url), err)
	case err != nil:
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(url), err)
	}
	return nc, nil
}

// cliReadFailed reports whether err is a failure to read from a connection
// that was made (not to dial one).
func cliReadFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// cliCheckNATSURLs refuses, as a usage error, server URLs that name
// another protocol (http://, https://, ws:// is NATS over WebSocket and
// fine), before a connection times out on them.
func cliCheckNATSURLs(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		scheme, _, ok := strings.Cut(u, "://")
		if !ok {
			continue // host:port, which nats.go reads as nats://
		}
		switch strings.ToLower(scheme) {
		case "http", "https":
			return &exitError{code: exitUsage, err: fmt.Errorf("--server %s: not a NATS server URL (use nats://host:4222)", redactURLs(u))}
		}
	}
	return nil
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
