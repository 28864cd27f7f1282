package serve

// How serve runs: settings, NATS, the publisher and agent, HTTP; and how it
// stops, in the reverse order.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway/extauthz"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// run runs the service until ctx ends (SIGINT, SIGTERM), then shuts down
// in order: HTTP (letting requests finish), the agent, the NATS connection
// (drained), the embedded server, the JWKS refresh.
func run(ctx context.Context, g *clitool.Globals, f *flags) error {
	log := g.JSONLogger()
	f.fromEnv()
	keyCtx, stopKeys := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeys()
	c, err := f.config(keyCtx, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer ln.Close()
	var gln net.Listener
	if f.extAuthzListen != "" {
		if gln, err = net.Listen("tcp", f.extAuthzListen); err != nil {
			return fmt.Errorf("--ext-authz-listen: %w", err)
		}
		defer gln.Close()
	}
	nc, ns, stopNATS, err := connectNATS(ctx, g, f, log)
	if err != nil {
		return err
	}
	defer stopNATS()
	svc, err := newService(ctx, g, f, nc, c, log)
	if err != nil {
		return err
	}
	defer svc.agent.Close()
	if f.snapshotEvery > 0 && !f.checkOnly {
		snap, err := startSnapshots(nc, g, f, log)
		if err != nil {
			return err
		}
		defer snap.Close()
	}
	handler, err := svc.routes()
	if err != nil {
		return err
	}
	if c.idp != nil && c.idp.pollURL != "" && svc.sets != nil {
		pctx, stopPoll := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			svc.sets.Poll(pctx, nil, c.idp.pollURL, c.idp.pollToken, c.idp.pollInterval)
		}()
		defer func() { stopPoll(); <-done }()
		log.Info("polling the SET transmitter", "url", c.idp.pollURL, "interval", c.idp.pollInterval)
	}
	if gln != nil {
		var failed context.CancelCauseFunc
		ctx, failed = context.WithCancelCause(ctx)
		stop := serveGRPC(gln, svc.extAuthz, log, failed)
		defer stop(f.shutdownTimeout)
	}
	if err := f.serveHTTP(ctx, ln, handler, log, func() { announce(log, ln, g, f, c, ns) }); err != nil {
		return err
	}
	if err := context.Cause(ctx); errors.Is(err, errGRPC) {
		return err
	}
	return nil
}

var errGRPC = errors.New("ext_authz gRPC server")

// serveGRPC serves the ext_authz server on ln until the returned stop is
// called, which lets the checks in flight finish for up to its timeout. A
// server that fails calls failed, so the whole service stops rather than
// serve HTTP without it.
func serveGRPC(ln net.Listener, s *extauthz.Server, log *slog.Logger, failed context.CancelCauseFunc) (stop func(time.Duration)) {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(extauthz.MaxRequestBytes))
	s.Register(g)
	go func() {
		if err := g.Serve(ln); err != nil {
			failed(fmt.Errorf("%w: %w", errGRPC, err))
		}
	}()
	log.Info("ext_authz gRPC server listening", "addr", ln.Addr().String())
	return func(timeout time.Duration) {
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			g.Stop()
		}
	}
}

// connectNATS connects to the NATS servers --server or NATS_URL names, or
// else starts the embedded server (--data, --nats-listen) and connects to
// it in process. stop drains the connection, then stops the embedded
// server.
func connectNATS(ctx context.Context, g *clitool.Globals, f *flags, log *slog.Logger) (nc *nats.Conn, ns *server.Server, stop func(), err error) {
	if g.NamesServer() {
		nc, err = g.Connect(ctx, "jwtrevoke serve")
	} else {
		if ns, err = f.startEmbedded(log); err != nil {
			return nil, nil, nil, err
		}
		nc, err = nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("jwtrevoke serve"), nats.MaxReconnects(-1))
	}
	if err != nil {
		stopEmbedded(ns, log)
		return nil, nil, nil, err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	return nc, ns, func() { drain(nc, closed, log); stopEmbedded(ns, log) }, nil
}

// startEmbedded starts the embedded NATS server, after making sure its
// port is free: the server only says "not ready" after a wait when its port
// is taken, so find out at once, and say what to do.
func (f *flags) startEmbedded(log *slog.Logger) (*server.Server, error) {
	l, err := net.Listen("tcp", f.natsListen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %s: %w (a NATS server already there? use it with --server nats://%s, or pick another --nats-listen)", f.natsListen, err, f.natsListen)
	}
	l.Close()
	ns, err := clitool.StartNATS(f.data, f.natsListen, log)
	if err != nil {
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(f.natsListen); !clitool.IsLoopback(host) {
		log.Warn("the embedded NATS server accepts unauthenticated clients beyond loopback: anyone who reaches it can publish revocations", "nats_listen", f.natsListen)
	}
	return ns, nil
}

// stopEmbedded shuts the embedded server down, if there is one.
func stopEmbedded(ns *server.Server, log *slog.Logger) {
	if ns == nil {
		return
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	log.Info("embedded NATS server stopped")
}

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

// newService starts the publisher (which creates the stream, or checks
// --max-lifetime against the one there) and the agent, which follows the
// stream's contract, and returns the service they make. The caller closes
// its agent.
func newService(ctx context.Context, g *clitool.Globals, f *flags, nc *nats.Conn, c *config, log *slog.Logger) (*service, error) {
	var pub *publisher.Publisher // nil under --check-only
	if !f.checkOnly {
		var err error
		pub, err = publisher.New(ctx, nc, append([]publisher.Option{
			publisher.WithStream(g.Stream),
			publisher.WithReplicas(f.replicas),
			publisher.WithActor("jwtrevoke-serve"),
			publisher.WithLogger(log)}, g.PublisherContract()...)...)
		if err != nil {
			return nil, g.ContractError(err)
		}
	}
	a, err := agent.New(ctx, nc,
		agent.WithStream(g.Stream),
		agent.WithStaleness(f.staleness),
		agent.WithPolicy(f.policy()),
		agent.WithLogger(log))
	if err != nil {
		return nil, err
	}
	st, err := stream(ctx, nc, g.Stream)
	if err != nil {
		a.Close()
		return nil, err
	}
	var agents *publisher.AgentWatch
	if pub != nil {
		if agents, err = pub.WatchAgents(); err != nil {
			log.Warn("cannot hear the agents' status reports: /admin/agents is off", "err", err)
			agents = nil
		}
	}
	return &service{
		agents: agents,
		pub:    pub, agent: a, verifier: c.verifier, stream: st, log: log,
		contract: a.Contract(),
		clients:  c.clients, public: c.public, corsOrigins: f.corsOrigins, adminToken: c.adminToken,
		forwardAuth: c.forwardAuth, extAuthzOn: f.extAuthzListen != "", idp: c.idp,
	}, nil
}

// startSnapshots runs a snapshotter beside the service (--snapshot-every).
func startSnapshots(nc *nats.Conn, g *clitool.Globals, f *flags, log *slog.Logger) (*snapshot.Snapshotter, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return snapshot.NewSnapshotter(js, snapshot.WithStream(g.Stream), snapshot.WithReplicas(f.replicas),
		snapshot.WithInterval(f.snapshotEvery), snapshot.WithLogger(log))
}

// stream is the revocation stream name on nc.
func stream(ctx context.Context, nc *nats.Conn, name string) (jetstream.Stream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", name, err)
	}
	return st, nil
}

// serveHTTP serves handler on ln until ctx ends or the server fails, then
// lets the requests in flight finish for up to --shutdown-timeout. It
// calls serving once it serves.
func (f *flags) serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, serving func()) error {
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
	serving()
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
	return nil
}

// announce logs that serve listens: its endpoints, who may call them, the
// stream, the policy, the keys and the embedded server; and warns when the
// admin API is off.
func announce(log *slog.Logger, ln net.Listener, g *clitool.Globals, f *flags, c *config, ns *server.Server) {
	base := "http://" + ln.Addr().String()
	attrs := append([]any{"http", base, "revoke", base + "/revoke", "introspect", base + "/introspect",
		"admin", c.adminToken != "", "clients", len(c.clients), "public_client", c.public, "check_only", f.checkOnly, "stream", g.Stream, "policy", f.policy().String()}, describeKeys(c.keys)...)
	if ns != nil {
		attrs = append(attrs, "nats", ns.ClientURL())
	}
	log.Info("jwtrevoke serve listening", attrs...)
	if c.adminToken == "" {
		log.Warn("admin API off: start with --admin-token (or JWTREVOKE_ADMIN_TOKEN) to enable /admin")
	}
}
