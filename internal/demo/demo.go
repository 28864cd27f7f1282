// Package demo is `jwtrevoke demo`: the whole story in one process. It
// starts an embedded NATS server (or uses --server), a publisher, a small
// token issuer with a web page (web/, embedded in the binary) and N API
// replicas, each with its own agent, NATS connection and HTTP server, and
// shows a revoked token refused on every replica within milliseconds.
//
// It builds on internal/cli/clitool (global flags, the NATS connection and
// the embedded server, exit statuses); cmd/jwtrevoke adds its command to
// the root. The issuer, the replicas and their handlers are safe for use
// by multiple goroutines; a demo is started and closed by one.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

const long = `Start the whole story in one process: an embedded NATS server with JetStream,
a publisher, a small token issuer with a web page, and N API replicas, each with
its own agent (its own NATS connection) and its own HTTP server.

  issuer + page   --listen            GET /  POST /login /refresh /logout /logout-all
                                      POST /revoke (RFC 7009)  POST /introspect (RFC 7662)
                                      GET /api/status
  replica i       port of --listen + i   GET /api/whoami  /livez  /readyz
  NATS            --nats-listen       for the nats CLI and agents in other processes

Demo users: alice/alice, bob/bob, carol/carol. Access tokens are HS256 (a random
secret per run), live 5 minutes and carry jti, sub, sid, kid, iat and exp; refresh
tokens are opaque and rotate on every use, and a reused one revokes its session.

Logging straight back in: iat is whole seconds, and a token is refused when
iat < cut-off with iat taken as the start of its second. Logout revokes the token
and its session, so a new login (a new session) works at once. After "log out
everywhere" (a subject cut-off T), the issuer waits out the rest of T's second
before it issues that user a token (at most one second, and only then), so the
new token's iat is not before T: it works on every replica while every earlier
token is refused.

The store is a fresh temporary directory removed at exit unless --data is given.
With --server the demo uses that NATS instead of an embedded one.

Exit status: 0 after Ctrl-C or SIGTERM, 1 failed (a busy port, a server that
stopped), 2 usage error (an unknown flag, a bad flag value).`

// config is what the demo verb's flags set.
type config struct {
	listen     string // issuer host:port; replica i listens on port+i
	replicas   int
	natsListen string
	data       string // JetStream store; a temporary directory when empty
}

// NewCommand returns `jwtrevoke demo`. It reads the global flags from g;
// the demo runs until the command's context ends (Ctrl-C, SIGTERM).
func NewCommand(g *clitool.Globals) *cobra.Command {
	cfg := config{}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run NATS, a token issuer with a web page and N API replicas in one process",
		Long:  long,
		Example: `  jwtrevoke demo
  jwtrevoke demo --listen 127.0.0.1:9000 --replicas 5
  jwtrevoke watch      # in another shell: the events as they are published`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), g, cfg, cmd.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "issuer and web page address; replica i listens on its port + i")
	f.IntVar(&cfg.replicas, "replicas", 3, "number of API replicas (1 to 32)")
	f.StringVar(&cfg.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server, for the nats CLI")
	f.StringVar(&cfg.data, "data", "", "JetStream store directory (default: a temporary directory removed at exit)")
	return c
}

// run starts the demo, prints its addresses to out, and runs until ctx
// ends (Ctrl-C, SIGTERM) or a server fails.
func run(ctx context.Context, g *clitool.Globals, cfg config, out io.Writer) error {
	d, err := start(ctx, g, cfg, g.Logger())
	if err != nil {
		return err
	}
	d.printBanner(out)
	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down")
	case runErr = <-d.errc:
	}
	if err := d.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// instance is a running demo. Close stops everything it started.
type instance struct {
	g   *clitool.Globals
	cfg config
	log *slog.Logger

	ns      *server.Server // nil when --server names an external NATS
	natsURL string
	tmpDir  string // removed by Close
	nc      *nats.Conn
	stream  jetstream.Stream
	pub     *publisher.Publisher
	ia      *agent.Agent // the issuer's own agent
	is      *issuer
	reps    []*replica

	issuerURL    string
	clientID     string
	clientSecret string
	issuerSrv    *http.Server
	issuerLn     net.Listener
	lns          []net.Listener // every HTTP listener, closed by Close

	errc      chan error // a server that stopped on its own
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// oauthClientID is the RFC 7009 / RFC 7662 confidential client of the demo;
// its secret is random per run and printed at startup.
const oauthClientID = "demo-client"

// start starts every part and returns once all replicas are ready.
// On error, whatever was started is stopped.
func start(ctx context.Context, g *clitool.Globals, cfg config, log *slog.Logger) (_ *instance, err error) {
	host, portStr, err := net.SplitHostPort(cfg.listen)
	if err != nil {
		return nil, usage("--listen %q: %w", cfg.listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, usage("--listen %q: needs a fixed port (replica i listens on port + i)", cfg.listen)
	}
	if cfg.replicas < 1 || cfg.replicas > 32 {
		return nil, usage("--replicas %d: must be 1 to 32", cfg.replicas)
	}
	if g.MaxLifetime != 0 && g.MaxLifetime < accessLifetime {
		return nil, usage("--max-lifetime %v: the demo's access tokens live %v", g.MaxLifetime, accessLifetime)
	}
	if port+cfg.replicas > 65535 {
		return nil, usage("--listen %q: no room for %d replica ports after it", cfg.listen, cfg.replicas)
	}
	d := &instance{g: g, cfg: cfg, log: log, errc: make(chan error, cfg.replicas+1), clientID: oauthClientID, clientSecret: randomID(18)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	// Take every HTTP port first, so a busy one fails fast and clearly.
	lns := make([]net.Listener, cfg.replicas+1)
	for i := range lns {
		addr := net.JoinHostPort(host, strconv.Itoa(port+i))
		ln, lerr := net.Listen("tcp", addr)
		if lerr != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			what := "issuer"
			if i > 0 {
				what = fmt.Sprintf("replica %d", i)
			}
			return nil, fmt.Errorf("%s: %w", what, lerr)
		}
		lns[i] = ln
	}
	d.lns, d.issuerLn = lns, lns[0]
	d.issuerURL = "http://" + urlHost(cfg.listen)

	// The demo is self-contained: only --server on its own command line
	// turns it to another NATS, not a NATS_URL left in the environment.
	if g.Server != "" {
		d.natsURL = g.Server
	} else {
		if env := os.Getenv("NATS_URL"); env != "" {
			log.Info("NATS_URL is set, but the demo uses its embedded NATS server; pass --server to use another", "NATS_URL", clitool.RedactURLs(env))
		}
		dir := cfg.data
		if dir == "" {
			if dir, err = os.MkdirTemp("", "jwtrevoke-demo-"); err != nil {
				return nil, err
			}
			d.tmpDir = dir
		}
		// The embedded server only says "not ready" after a while when its
		// port is taken: check it first, to fail fast and clearly.
		l, lerr := net.Listen("tcp", cfg.natsListen)
		if lerr != nil {
			return nil, fmt.Errorf("--nats-listen: %w", lerr)
		}
		l.Close()
		if d.ns, err = clitool.StartNATS(dir, cfg.natsListen, log); err != nil {
			return nil, err
		}
		d.natsURL = d.ns.ClientURL()
	}

	if d.nc, err = g.Dial(ctx, d.natsURL, "jwtrevoke-demo-issuer"); err != nil {
		return nil, err
	}
	if d.pub, err = publisher.New(ctx, d.nc, append([]publisher.Option{
		publisher.WithStream(g.Stream),
		publisher.WithActor("jwtrevoke-demo"),
		publisher.WithLogger(log)}, g.PublisherContract()...)...); err != nil {
		return nil, g.ContractError(err)
	}
	if lt := d.pub.Contract().MaxTokenLifetime; lt < accessLifetime {
		return nil, fmt.Errorf("the stream %q keeps revocations for tokens living up to %v, but the demo's access tokens live %v", g.Stream, lt, accessLifetime)
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		return nil, err
	}
	if d.stream, err = js.Stream(ctx, g.Stream); err != nil {
		return nil, err
	}
	if d.is, err = newIssuer(d.pub, d.issuerURL, log.With("part", "issuer")); err != nil {
		return nil, err
	}
	// The demo says when its agents replay the stream and when they are
	// all ready, in that order; an agent's own lines are debug detail (on
	// an empty stream it logs "ready" before "replaying").
	alog := slog.New(agentLog{log.Handler()})
	state := d.stream.CachedInfo().State
	log.Info("agents replaying revocations", "stream", g.Stream, "agents", cfg.replicas+1, "events", state.Msgs, "last_seq", state.LastSeq)
	if d.ia, err = agent.New(ctx, d.nc,
		agent.WithStream(g.Stream),
		agent.WithStaleness(staleAfter),
		agent.WithLogger(alog.With("part", "issuer")),
		agent.WithOnApply(d.is.observe)); err != nil {
		return nil, err
	}
	d.is.agent = d.ia

	cors, err := newCORSPolicy(cfg.listen)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.replicas; i++ {
		nc, err := g.Dial(ctx, d.natsURL, fmt.Sprintf("jwtrevoke-demo-replica-%d", i))
		if err != nil {
			return nil, err
		}
		r, err := startReplica(ctx, i, lns[i], nc, g, d.is, cors, alog)
		if err != nil {
			nc.Close()
			return nil, err
		}
		d.reps = append(d.reps, r)
	}

	handler, err := d.issuerHandler()
	if err != nil {
		return nil, err
	}
	d.issuerSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}

	// Every agent replays the stream before anything is served.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, a := range d.agents() {
		if err := a.WaitReady(wctx); err != nil {
			return nil, err
		}
	}
	log.Info("agents ready", "stream", g.Stream, "agents", len(d.agents()), "applied", d.ia.LastApplied())
	for _, r := range d.reps {
		d.goServe(r.serve)
	}
	d.goServe(func() error {
		if err := d.issuerSrv.Serve(d.issuerLn); err != http.ErrServerClosed {
			return fmt.Errorf("issuer: %w", err)
		}
		return nil
	})
	return d, nil
}

// agentLog is the demo's log for its agents: their "replaying" and
// "ready" lines go to debug, since the demo logs both for all of its
// agents, in order.
type agentLog struct{ slog.Handler }

func (h agentLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.Handler.Enabled(ctx, l) // Info may become Debug in Handle
}

func (h agentLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && (r.Message == "agent replaying revocations" || r.Message == "agent ready") {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h agentLog) WithAttrs(as []slog.Attr) slog.Handler {
	return agentLog{h.Handler.WithAttrs(as)}
}

func (h agentLog) WithGroup(name string) slog.Handler {
	return agentLog{h.Handler.WithGroup(name)}
}

// usage is a usage error (exit 2) of the demo's flags.
func usage(format string, args ...any) error {
	return clitool.Usage(fmt.Errorf(format, args...))
}

func (d *instance) goServe(serve func() error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := serve(); err != nil {
			d.errc <- err
		}
	}()
}

func (d *instance) agents() []*agent.Agent {
	as := []*agent.Agent{d.ia}
	for _, r := range d.reps {
		as = append(as, r.a)
	}
	return as
}

// replicaURL is replica r's base URL as printed and reported.
func (d *instance) replicaURL(r *replica) string { return "http://" + urlHost(r.addr) }

// urlHost turns a listen address into a host:port for a URL: an
// unspecified host becomes 127.0.0.1.
func urlHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (d *instance) printBanner(out io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\njwtrevoke demo: real logout for JWTs\n\n")
	fmt.Fprintf(&b, "  Web page         %s/\n", d.issuerURL)
	for _, r := range d.reps {
		fmt.Fprintf(&b, "  Replica %-2d       %s/api/whoami\n", r.n, d.replicaURL(r))
	}
	// The shell verbs find the embedded server at its default address.
	jr := "jwtrevoke"
	if d.natsURL != clitool.DefaultServer {
		jr += " --server " + clitool.RedactURLs(d.natsURL)
	}
	if d.g.Stream != jwtrevoke.DefaultStream {
		jr += " --stream " + d.g.Stream
	}
	fmt.Fprintf(&b, "  NATS             %s   (stream %s)\n", clitool.RedactURLs(d.natsURL), d.g.Stream)
	fmt.Fprintf(&b, "  Watch events     %s watch\n", jr)
	fmt.Fprintf(&b, "  Stream status    %s status\n", jr)
	fmt.Fprintf(&b, "  RFC 7009/7662    POST %s/revoke, %s/introspect\n", d.issuerURL, d.issuerURL)
	fmt.Fprintf(&b, "  Client           id %s  secret %s\n", d.clientID, d.clientSecret)
	fmt.Fprintf(&b, "  Users            %s\n", userList())
	if d.tmpDir != "" {
		fmt.Fprintf(&b, "  Store            %s (removed at exit)\n", d.tmpDir)
	} else if d.cfg.data != "" {
		fmt.Fprintf(&b, "  Store            %s\n", d.cfg.data)
	}
	fmt.Fprintf(&b, "\nTry it from a shell: log in as alice (the answer's access_token is her JWT),\ncall a replica with it, log her out everywhere, call again:\n")
	fmt.Fprintf(&b, "  TOKEN=$(curl -s -X POST %s/login -d '{\"username\":\"alice\",\"password\":\"alice\"}' | %s)\n", d.issuerURL, tokenSed)
	if len(d.reps) > 0 {
		fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/whoami\n", d.replicaURL(d.reps[0]))
		fmt.Fprintf(&b, "  %s revoke subject alice --reason demo\n", jr)
		fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/whoami   # now 401\n", d.replicaURL(d.reps[0]))
	}
	fmt.Fprintf(&b, "\nReady. Ctrl-C stops everything.\n")
	_, _ = io.WriteString(out, b.String())
}

// tokenSed takes the access_token out of the issuer's JSON answer to
// a login, in the banner's shell example (sed, which every shell has; jq
// may not be installed).
const tokenSed = `sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'`

func userList() string {
	var s []string
	for _, u := range users {
		s = append(s, u+"/"+u)
	}
	return strings.Join(s, ", ")
}

// Close shuts the HTTP servers down (letting requests in flight finish,
// for up to five seconds), then the agents, the NATS connections and the
// embedded server, and removes a temporary store. It is safe to call more
// than once.
func (d *instance) Close() error {
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		if d.issuerSrv != nil {
			errs = append(errs, d.issuerSrv.Shutdown(ctx))
		}
		for _, r := range d.reps {
			errs = append(errs, r.srv.Shutdown(ctx))
		}
		for _, l := range d.lns {
			l.Close() // the ones never served; the others are closed already
		}
		d.wg.Wait()
		for _, r := range d.reps {
			errs = append(errs, r.a.Close())
			r.nc.Close()
		}
		if d.ia != nil {
			errs = append(errs, d.ia.Close())
		}
		if d.nc != nil {
			d.nc.Close()
		}
		if d.ns != nil {
			d.ns.Shutdown()
			d.ns.WaitForShutdown()
		}
		if d.tmpDir != "" {
			errs = append(errs, os.RemoveAll(d.tmpDir))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}
