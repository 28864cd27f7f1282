// Package serve is `jwtrevoke serve`, the revocation service: a publisher
// and an agent on the revocation stream behind HTTP endpoints, RFC 7009
// /revoke and RFC 7662 /introspect for OAuth clients, an admin API behind a
// bearer token, and health and metrics. It verifies tokens with an HMAC
// secret, PEM public keys or JWKS URLs, and runs on an embedded NATS
// server for development or on a cluster.
//
// It builds on internal/cli/clitool (global flags, the NATS connection and
// the embedded server, the keyring, exit statuses); cmd/jwtrevoke adds its
// command to the root. The service's HTTP handlers are safe for use by
// multiple goroutines; the rest runs on the goroutine that runs the verb.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// minSecretBytes is the shortest client secret or admin token serve
// accepts.
const minSecretBytes = 16

// flags are the flags of `jwtrevoke serve`.
type flags struct {
	listen     string
	data       string
	natsListen string

	clients       []string // id:secret
	clientIDs     []string
	clientSecrets []string
	corsOrigins   []string
	publicClient  bool

	adminToken     string
	adminTokenFile string

	keys     keyFlags
	issuer   string
	audience []string
	leeway   time.Duration

	staleness       time.Duration
	failOpen        bool
	replicas        int
	shutdownTimeout time.Duration
}

const long = `Run the revocation service: a publisher and an agent on the revocation
stream, behind HTTP endpoints.

  POST /revoke          RFC 7009 token revocation (client authentication: HTTP Basic)
  POST /introspect      RFC 7662 token introspection (same clients)
  POST /admin/revoke    revoke a subject, session, key, token or everything (admin token)
  GET  /admin/live      live revocations by kind, and the stream's state (admin token)
  GET  /admin/events    the latest events on the stream, decoded (admin token)
  GET  /livez           200 while the process runs
  GET  /readyz          200 once the agent has replayed the stream and is fresh, else 503
  GET  /metrics         Prometheus metrics

Without --server (or NATS_URL) it starts an embedded NATS server with
JetStream, storing under --data and accepting other NATS clients (agents, the
nats CLI, the other verbs) on --nats-listen. The embedded server has no authentication: keep it on
loopback, or run a real cluster and pass --server.

Tokens are verified with an HMAC secret, PEM public keys or a JWKS URL, the
algorithms of --alg. The admin API is off unless an admin token is given; it
is never generated, so that no credential ends up in a log.

Secrets given as flags show in ps and shell history: prefer the environment
(JWTREVOKE_HMAC_SECRET, JWTREVOKE_ADMIN_TOKEN, JWTREVOKE_CLIENTS) or
--hmac-secret-file and --admin-token-file.

Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 1 failed (a busy
port, NATS unreachable, a server that stopped), 2 usage error: an unknown flag,
or missing or invalid settings, which are all reported together.`

const example = `  # development: embedded NATS, an HMAC issuer, one confidential client
  JWTREVOKE_HMAC_SECRET=$(cat hmac.key) JWTREVOKE_ADMIN_TOKEN=$(cat admin.token) \
    jwtrevoke serve --client api-gateway:$(cat gw.secret)

  curl -u api-gateway:$GW_SECRET -d token=$JWT http://127.0.0.1:8080/revoke
  curl -H "Authorization: Bearer $ADMIN" -d '{"kind":"sub","key":"alice","reason":"password change"}' \
    http://127.0.0.1:8080/admin/revoke

  # production: a NATS cluster, keys from the identity provider
  jwtrevoke serve --server nats://n1:4222,nats://n2:4222 --creds serve.creds \
    --jwks-url https://id.example.com/.well-known/jwks.json --issuer https://id.example.com \
    --listen 0.0.0.0:8080 --admin-token-file admin.token   # clients in JWTREVOKE_CLIENTS="gw:…"`

// NewCommand returns `jwtrevoke serve`. It reads the global flags from g;
// the service runs until the command's context ends (SIGINT, SIGTERM).
func NewCommand(g *clitool.Globals) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Run the revocation service: RFC 7009 /revoke, RFC 7662 /introspect, an admin API, health and metrics",
		Long:    long,
		Example: example,
		Args:    clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP address to serve on (host:port)")
	fs.StringVar(&f.data, "data", "./jwtrevoke-data", "JetStream store directory of the embedded NATS server (only without --server)")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "address where the embedded NATS server accepts clients (only without --server); it has no authentication")

	fs.StringArrayVar(&f.clients, "client", nil, "OAuth client allowed to call /revoke and /introspect, as id:secret; repeatable (env JWTREVOKE_CLIENTS, space separated)")
	fs.StringArrayVar(&f.clientIDs, "client-id", nil, "OAuth client id; repeatable, paired in order with --client-secret")
	fs.StringArrayVar(&f.clientSecrets, "client-secret", nil, fmt.Sprintf("secret of the --client-id at the same position (at least %d bytes)", minSecretBytes))
	fs.StringArrayVar(&f.corsOrigins, "cors-origin", nil, `web origin (https://app.example.com, or "*") whose pages may call /revoke from a browser without client authentication; repeatable`)
	fs.BoolVar(&f.publicClient, "public-client", false, "let anyone holding a token revoke it at /revoke without client authentication (implied by --cors-origin)")

	fs.StringVar(&f.adminToken, "admin-token", "", fmt.Sprintf("bearer token for the /admin API, at least %d bytes (env JWTREVOKE_ADMIN_TOKEN); without one the admin API is off", minSecretBytes))
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "file holding the admin token (one trailing newline is ignored)")

	f.keys.register(fs)
	fs.StringVar(&f.issuer, "issuer", "", "require this iss claim (default: not checked)")
	fs.StringArrayVar(&f.audience, "audience", nil, "require the aud claim to contain one of these; repeatable (default: not checked)")
	fs.DurationVar(&f.leeway, "leeway", 30*time.Second, "clock leeway for exp, nbf and iat")

	fs.DurationVar(&f.staleness, "staleness", 5*time.Second, "how long the agent may go without hearing the stream before it is stale (and /readyz fails)")
	fs.BoolVar(&f.failOpen, "fail-open", false, "when stale, let /introspect answer from memory instead of inactive")
	fs.IntVar(&f.replicas, "replicas", 1, "replicas of the revocation stream when serve creates it (3 on a cluster)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let requests in flight finish on SIGINT/SIGTERM")
	return cmd
}

// envList splits an environment variable on spaces and commas.
func envList(name string) []string {
	return strings.FieldsFunc(os.Getenv(name), func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' })
}

// client is one OAuth client of the endpoints.
type client struct{ id, secret string }

// clientList merges --client and --client-id/--client-secret.
func (f *flags) clientList() ([]client, error) {
	if len(f.clientIDs) != len(f.clientSecrets) {
		return nil, fmt.Errorf("%d --client-id but %d --client-secret: give them in pairs", len(f.clientIDs), len(f.clientSecrets))
	}
	var out []client
	for _, c := range f.clients {
		id, secret, ok := strings.Cut(c, ":")
		if !ok {
			return nil, fmt.Errorf("--client %q: want id:secret", redact(c))
		}
		out = append(out, client{id, secret})
	}
	for i, id := range f.clientIDs {
		out = append(out, client{id, f.clientSecrets[i]})
	}
	seen := map[string]bool{}
	for _, c := range out {
		switch {
		case c.id == "":
			return nil, errors.New("a client id is empty")
		case len(c.secret) < minSecretBytes:
			return nil, fmt.Errorf("client %q: the secret is %d bytes, want at least %d", c.id, len(c.secret), minSecretBytes)
		case seen[c.id]:
			return nil, fmt.Errorf("client %q given twice", c.id)
		}
		seen[c.id] = true
	}
	return out, nil
}

// admin returns the admin token, "" if the admin API is off.
func (f *flags) admin() (string, error) {
	tok := f.adminToken
	if f.adminTokenFile != "" {
		if tok != "" {
			return "", errors.New("give the admin token once: --admin-token (or JWTREVOKE_ADMIN_TOKEN) or --admin-token-file")
		}
		var err error
		if tok, err = clitool.ReadSecretFile("--admin-token-file", f.adminTokenFile); err != nil {
			return "", err
		}
	}
	if tok != "" && len(tok) < minSecretBytes {
		return "", fmt.Errorf("the admin token is %d bytes, want at least %d (try: openssl rand -hex 32)", len(tok), minSecretBytes)
	}
	return tok, nil
}

// redact hides the secret of an id:secret pair.
func redact(s string) string {
	if id, _, ok := strings.Cut(s, ":"); ok {
		return id + ":…"
	}
	if len(s) > 4 {
		return s[:4] + "…"
	}
	return "…"
}

// serveLogger logs to stderr, as JSON with --json.
func serveLogger(g *clitool.Globals) *slog.Logger {
	if !g.JSON {
		return g.Logger()
	}
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// run runs the service until ctx ends (SIGINT, SIGTERM), then shuts
// down in order: HTTP (letting requests finish), the agent, the JWKS
// refresh, the NATS connection (drained), the embedded server.
func run(ctx context.Context, g *clitool.Globals, f *flags) (err error) {
	log := g.JSONLogger()
	// Secrets from the environment; not flag defaults, which --help prints.
	if len(f.clients) == 0 {
		f.clients = envList("JWTREVOKE_CLIENTS")
	}
	if f.adminToken == "" && f.adminTokenFile == "" {
		f.adminToken = os.Getenv("JWTREVOKE_ADMIN_TOKEN")
	}
	if f.keys.hmacSecret == "" && f.keys.hmacSecretFile == "" {
		f.keys.hmacSecret = os.Getenv("JWTREVOKE_HMAC_SECRET")
	}

	// Check everything that can be checked before starting anything, and
	// report every problem at once.
	var bad []error
	clients, err := f.clientList()
	if err != nil {
		bad = append(bad, err)
	}
	for _, o := range f.corsOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "") {
			bad = append(bad, fmt.Errorf("--cors-origin %q: want a web origin, scheme://host[:port], or *", o))
		}
	}
	public := f.publicClient || len(f.corsOrigins) > 0
	if err == nil && len(clients) == 0 && !public {
		bad = append(bad, errors.New("no OAuth clients: give --client id:secret (or --client-id and --client-secret), or --public-client / --cors-origin to let anyone revoke the tokens they hold"))
	}
	adminToken, err := f.admin()
	if err != nil {
		bad = append(bad, err)
	}
	keyCtx, stopKeys := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeys()
	keys, err := f.keys.keyring(keyCtx, log)
	if err != nil {
		bad = append(bad, err)
	}
	var verifier *verify.Verifier
	if keys != nil {
		vopts := []verify.Option{verify.WithLeeway(f.leeway)}
		if f.issuer != "" {
			vopts = append(vopts, verify.WithIssuer(f.issuer))
		}
		if len(f.audience) > 0 {
			vopts = append(vopts, verify.WithAudience(f.audience...))
		}
		if verifier, err = verify.New(keys, keys.Algs(), vopts...); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return settingsError(bad)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer ln.Close()

	// NATS: embedded or a cluster.
	var ns *server.Server
	var nc *nats.Conn
	if g.Server == "" && os.Getenv("NATS_URL") == "" {
		// The embedded server only says "not ready" after a wait when its
		// port is taken: find out at once, and say what to do.
		if l, err := net.Listen("tcp", f.natsListen); err != nil {
			return fmt.Errorf("--nats-listen %s: %w (a NATS server already there? use it with --server nats://%s, or pick another --nats-listen)", f.natsListen, err, f.natsListen)
		} else {
			l.Close()
		}
		if ns, err = clitool.StartNATS(f.data, f.natsListen, log); err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			log.Info("embedded NATS server stopped")
		}()
		if host, _, _ := net.SplitHostPort(f.natsListen); !clitool.IsLoopback(host) {
			log.Warn("the embedded NATS server accepts unauthenticated clients beyond loopback: anyone who reaches it can publish revocations", "nats_listen", f.natsListen)
		}
		nc, err = nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("jwtrevoke serve"), nats.MaxReconnects(-1))
	} else {
		nc, err = g.Connect(ctx, "jwtrevoke serve")
	}
	if err != nil {
		return err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	defer drain(nc, closed, log)

	pub, err := publisher.New(ctx, nc, append([]publisher.Option{
		publisher.WithStream(g.Stream),
		publisher.WithReplicas(f.replicas),
		publisher.WithActor("jwtrevoke-serve"),
		publisher.WithLogger(log)}, g.PublisherContract()...)...)
	if err != nil {
		return g.ContractError(err)
	}
	policy := agent.FailClosed
	if f.failOpen {
		policy = agent.FailOpen
	}
	// The agent follows the stream's contract (which the publisher above
	// checked --max-lifetime against).
	a, err := agent.New(ctx, nc,
		agent.WithStream(g.Stream),
		agent.WithStaleness(f.staleness),
		agent.WithPolicy(policy),
		agent.WithLogger(log))
	if err != nil {
		return err
	}
	defer a.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, g.Stream)
	if err != nil {
		return fmt.Errorf("stream %q: %w", g.Stream, err)
	}

	svc := &service{
		pub: pub, agent: a, verifier: verifier, stream: st, log: log,
		contract: a.Contract(),
		clients:  clients, public: public, corsOrigins: f.corsOrigins, adminToken: adminToken,
	}
	handler, err := svc.routes()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	attrs := append([]any{"http", base, "revoke", base + "/revoke", "introspect", base + "/introspect",
		"admin", adminToken != "", "clients", len(clients), "public_client", public, "stream", g.Stream, "policy", policy.String()}, describeKeys(keys)...)
	if ns != nil {
		attrs = append(attrs, "nats", ns.ClientURL())
	}
	log.Info("jwtrevoke serve listening", attrs...)
	if adminToken == "" {
		log.Warn("admin API off: start with --admin-token (or JWTREVOKE_ADMIN_TOKEN) to enable /admin")
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("HTTP server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("HTTP requests still running at the shutdown timeout", "err", err)
		srv.Close()
	}
	// The deferred calls close the agent, drain NATS, stop the embedded
	// server and the JWKS refresh, in that order.
	return nil
}

// settingsError reports every missing or invalid setting serve found
// as a usage error (exit 2).
func settingsError(bad []error) error {
	if len(bad) == 1 {
		return clitool.Usage(bad[0])
	}
	return clitool.Usage(settings(bad))
}

// settings is more than one problem with serve's settings, one a line.
type settings []error

func (e settings) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d settings are missing or invalid:", len(e))
	for _, err := range e {
		b.WriteString("\n  - " + err.Error())
	}
	return b.String()
}

func (e settings) Unwrap() []error { return e }

// drain drains nc and waits (at most five seconds) for it to close.
func drain(nc *nats.Conn, closed <-chan struct{}, log *slog.Logger) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		log.Warn("NATS drain timed out; closing")
		nc.Close()
	}
}
