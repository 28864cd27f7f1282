package demo

// How a demo starts, part by part, and stops.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

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
	host, port, err := cfg.check(g)
	if err != nil {
		return nil, err
	}
	d := &instance{g: g, cfg: cfg, log: log, errc: make(chan error, cfg.replicas+1), clientID: oauthClientID, clientSecret: randomID(18)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := d.listen(host, port); err != nil {
		return nil, err
	}
	if err := d.startNATS(); err != nil {
		return nil, err
	}
	// The demo says when its agents replay the stream and when they are
	// all ready, in that order; an agent's own lines are debug detail.
	alog := slog.New(agentLog{log.Handler()})
	if err := d.startIssuer(ctx, alog); err != nil {
		return nil, err
	}
	if err := d.startReplicas(ctx, alog); err != nil {
		return nil, err
	}
	handler, err := d.issuerHandler()
	if err != nil {
		return nil, err
	}
	d.issuerSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	if err := d.waitReady(ctx); err != nil {
		return nil, err
	}
	d.serve()
	return d, nil
}

// check refuses flags the demo cannot run with, as usage errors, and
// returns the issuer's host and port.
func (cfg config) check(g *clitool.Globals) (host string, port int, err error) {
	host, portStr, err := net.SplitHostPort(cfg.listen)
	if err != nil {
		return "", 0, usage("--listen %q: %w", cfg.listen, err)
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, usage("--listen %q: needs a fixed port (replica i listens on port + i)", cfg.listen)
	}
	if cfg.replicas < 1 || cfg.replicas > 32 {
		return "", 0, usage("--replicas %d: must be 1 to 32", cfg.replicas)
	}
	if g.MaxLifetime != 0 && g.MaxLifetime < accessLifetime {
		return "", 0, usage("--max-lifetime %v: the demo's access tokens live %v", g.MaxLifetime, accessLifetime)
	}
	if port+cfg.replicas > 65535 {
		return "", 0, usage("--listen %q: no room for %d replica ports after it", cfg.listen, cfg.replicas)
	}
	return host, port, nil
}

// listen takes every HTTP port first, the issuer's and then each
// replica's, so that a busy one fails fast and clearly.
func (d *instance) listen(host string, port int) error {
	lns := make([]net.Listener, d.cfg.replicas+1)
	for i := range lns {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+i)))
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			what := "issuer"
			if i > 0 {
				what = fmt.Sprintf("replica %d", i)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		lns[i] = ln
	}
	d.lns, d.issuerLn = lns, lns[0]
	d.issuerURL = "http://" + urlHost(d.cfg.listen)
	return nil
}

// startNATS starts the embedded NATS server, storing under --data or a
// temporary directory, unless --server names another. The demo is
// self-contained: only --server on its own command line turns it to
// another NATS, not a NATS_URL left in the environment.
func (d *instance) startNATS() (err error) {
	if d.g.Server != "" {
		d.natsURL = d.g.Server
		return nil
	}
	if env := os.Getenv("NATS_URL"); env != "" {
		d.log.Info("NATS_URL is set, but the demo uses its embedded NATS server; pass --server to use another", "NATS_URL", clitool.RedactURLs(env))
	}
	dir := d.cfg.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "jwtrevoke-demo-"); err != nil {
			return err
		}
		d.tmpDir = dir
	}
	// The embedded server only says "not ready" after a while when its
	// port is taken: check it first, to fail fast and clearly.
	l, err := net.Listen("tcp", d.cfg.natsListen)
	if err != nil {
		return fmt.Errorf("--nats-listen: %w", err)
	}
	l.Close()
	if d.ns, err = clitool.StartNATS(dir, d.cfg.natsListen, d.log); err != nil {
		return err
	}
	d.natsURL = d.ns.ClientURL()
	return nil
}

// startIssuer connects the issuer and starts its publisher (which creates
// the stream, or checks it keeps revocations long enough for the demo's
// tokens), the issuer, and its own agent, which logs to alog.
func (d *instance) startIssuer(ctx context.Context, alog *slog.Logger) (err error) {
	g := d.g
	if d.nc, err = g.Dial(ctx, d.natsURL, "jwtrevoke-demo-issuer"); err != nil {
		return err
	}
	if d.pub, err = publisher.New(ctx, d.nc, append([]publisher.Option{
		publisher.WithStream(g.Stream),
		publisher.WithActor("jwtrevoke-demo"),
		publisher.WithLogger(d.log)}, g.PublisherContract()...)...); err != nil {
		return g.ContractError(err)
	}
	if lt := d.pub.Contract().MaxTokenLifetime; lt < accessLifetime {
		return fmt.Errorf("the stream %q keeps revocations for tokens living up to %v, but the demo's access tokens live %v", g.Stream, lt, accessLifetime)
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		return err
	}
	if d.stream, err = js.Stream(ctx, g.Stream); err != nil {
		return err
	}
	if d.is, err = newIssuer(d.pub, d.issuerURL, d.log.With("part", "issuer")); err != nil {
		return err
	}
	d.is.agents = d.cfg.replicas + 1
	state := d.stream.CachedInfo().State
	d.log.Info("agents replaying revocations", "stream", g.Stream, "agents", d.cfg.replicas+1, "events", state.Msgs, "last_seq", state.LastSeq)
	if d.ia, err = agent.New(ctx, d.nc,
		agent.WithStream(g.Stream),
		agent.WithStaleness(staleAfter),
		agent.WithLogger(alog.With("part", "issuer")),
		agent.WithName("demo-issuer"),
		agent.WithOnApply(d.is.observe)); err != nil {
		return err
	}
	d.is.agent = d.ia
	return nil
}

// startReplicas starts every replica, each on its own NATS connection,
// with its agent logging to alog.
func (d *instance) startReplicas(ctx context.Context, alog *slog.Logger) error {
	cors, err := newCORSPolicy(d.cfg.listen)
	if err != nil {
		return err
	}
	for i := 1; i <= d.cfg.replicas; i++ {
		nc, err := d.g.Dial(ctx, d.natsURL, fmt.Sprintf("jwtrevoke-demo-replica-%d", i))
		if err != nil {
			return err
		}
		r, err := startReplica(ctx, i, d.lns[i], nc, d.g, d.is, cors, alog)
		if err != nil {
			nc.Close()
			return err
		}
		d.reps = append(d.reps, r)
	}
	return nil
}

// waitReady waits until every agent has replayed the stream: nothing is
// served before.
func (d *instance) waitReady(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, a := range d.agents() {
		if err := a.WaitReady(wctx); err != nil {
			return err
		}
	}
	d.log.Info("agents ready", "stream", d.g.Stream, "agents", len(d.agents()), "applied", d.ia.LastApplied())
	return nil
}

// serve serves the replicas and the issuer, each on its own goroutine
// until Close; a server that stops on its own sends its error to errc.
func (d *instance) serve() {
	for _, r := range d.reps {
		d.goServe(r.serve)
	}
	d.goServe(func() error {
		if err := d.issuerSrv.Serve(d.issuerLn); err != http.ErrServerClosed {
			return fmt.Errorf("issuer: %w", err)
		}
		return nil
	})
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
