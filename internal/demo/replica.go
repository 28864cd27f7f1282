package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// staleAfter is the staleness bound of the demo's agents
// (agent.WithStaleness), and so of their Health, which every /readyz and
// the page's status feed answer from: short, so the page shows freshness
// moving.
const staleAfter = 3 * time.Second

// replica is one demo API replica: its own NATS connection, its own agent,
// and an HTTP server with GET /api/whoami behind verify.Middleware.
type replica struct {
	n    int
	addr string // host:port it listens on
	nc   *nats.Conn
	a    *agent.Agent
	lag  *lagTracker
	srv  *http.Server
	ln   net.Listener
}

func startReplica(ctx context.Context, n int, ln net.Listener, nc *nats.Conn, g *clitool.Globals, is *issuer, cors *corsPolicy, log *slog.Logger) (*replica, error) {
	lt := newLagTracker(time.Now())
	a, err := agent.New(ctx, nc,
		agent.WithStream(g.Stream),
		agent.WithStaleness(staleAfter),
		agent.WithLogger(log.With("replica", n)),
		agent.WithOnApply(lt.observe))
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", n, err)
	}
	mw, err := verify.Middleware(a, is.keys, []string{"HS256"}, verify.WithIssuer(is.iss))
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("replica %d: %w", n, err)
	}
	r := &replica{n: n, addr: ln.Addr().String(), nc: nc, a: a, lag: lt, ln: ln}
	mux := http.NewServeMux()
	mux.Handle("GET /api/whoami", mw(http.HandlerFunc(r.whoami)))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok", "replica": n})
	})
	mux.HandleFunc("GET /readyz", r.readyz)
	r.srv = &http.Server{Handler: cors.wrap(mux), ReadHeaderTimeout: 5 * time.Second}
	return r, nil
}

func (r *replica) serve() error {
	if err := r.srv.Serve(r.ln); err != http.ErrServerClosed {
		return fmt.Errorf("replica %d: %w", r.n, err)
	}
	return nil
}

func (r *replica) whoami(w http.ResponseWriter, req *http.Request) {
	claims, _ := verify.ClaimsFromContext[jwt.MapClaims](req.Context())
	httpjson.Write(w, http.StatusOK, map[string]any{"replica": r.n, "claims": claims})
}

// readyz answers from the agent's health (httpjson.Health): ready and
// fresh within staleAfter, its staleness bound.
func (r *replica) readyz(w http.ResponseWriter, _ *http.Request) {
	httpjson.Health(w, r.a.Health(), map[string]any{"replica": r.n})
}

// lagTracker measures propagation lag (event issued → applied here) of the
// events published after the replica started, from the agent's OnApply
// hook. It keeps the last lagWindow samples for percentiles. It is safe
// for use by multiple goroutines.
type lagTracker struct {
	started time.Time

	mu      sync.Mutex // guards the fields below
	applied uint64
	samples [lagWindow]time.Duration
	n       int // samples taken in all
	last    time.Duration
}

const lagWindow = 512

func newLagTracker(started time.Time) *lagTracker { return &lagTracker{started: started} }

// observe is the agent's OnApply hook: quick, no I/O.
func (l *lagTracker) observe(r jwtrevoke.Revocation, _ uint64) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied++
	if r.Issued.Before(l.started) {
		return // replayed from before this replica started: not propagation
	}
	d := max(now.Sub(r.Issued), 0)
	l.samples[l.n%lagWindow] = d
	l.n++
	l.last = d
}

// snapshot returns the events applied, the last lag and the 50th and 99th
// percentiles of the recent lags (zero without samples).
func (l *lagTracker) snapshot() (applied uint64, last, p50, p99 time.Duration, samples int) {
	l.mu.Lock()
	applied, last = l.applied, l.last
	s := slices.Clone(l.samples[:min(l.n, lagWindow)])
	l.mu.Unlock()
	if len(s) == 0 {
		return applied, 0, 0, 0, 0
	}
	slices.Sort(s)
	return applied, last, lagPercentile(s, 0.50), lagPercentile(s, 0.99), len(s)
}

// percentile of sorted samples, nearest rank.
func lagPercentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms is a duration in milliseconds with microsecond resolution, for JSON.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

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
