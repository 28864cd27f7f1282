package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

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
		agent.WithName(fmt.Sprintf("demo-replica-%d", n)),
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
