// Command example-api is an API replica as jwtrevoke expects one: an agent
// that replays and tails the revocation stream, the middleware in front of
// the API routes, /livez, /readyz and /metrics. deploy/compose.yaml runs two
// of them and deploy/k8s/example-api.yaml a Deployment of them.
//
// It is configured by the environment:
//
//	NATS_URL                 NATS servers, comma separated; credentials may go in the URL (required)
//	NATS_CREDS               NATS credentials file (decentralized JWT auth), optional
//	NATS_TLS_CA              CA file that verifies the NATS servers, optional
//	JWTREVOKE_HMAC_SECRET    HMAC secret that verifies tokens (HS256), or
//	JWTREVOKE_JWKS_URL       the issuer's JWKS URLs, comma separated (RS256, ES256, EdDSA)
//	JWTREVOKE_ALGS           accepted algorithms, comma separated (default: as above)
//	JWTREVOKE_ISSUER         required iss, optional
//	JWTREVOKE_AUDIENCE       required aud, optional
//	JWTREVOKE_MAX_LIFETIME   longest token lifetime, as jwtrevoke serve's --max-lifetime (default 24h)
//	JWTREVOKE_STALENESS      staleness bound (default 5s)
//	LISTEN                   HTTP address (default 127.0.0.1:8080)
//	EXAMPLE_API_DEMO_LOGIN   "true": POST /login?sub=NAME mints a token with the HMAC secret (demo only)
//
// Routes: GET /hello (needs a valid, unrevoked token), GET /livez, GET
// /readyz (200 once the agent has replayed the stream and while it is
// fresh), GET /metrics, and POST /login in demo mode.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, log, nil); err != nil {
		log.Error("example-api", "err", err)
		os.Exit(1)
	}
}

// config is the environment, checked.
type config struct {
	natsURL, natsCreds, natsCA string
	hmac                       []byte
	jwksURLs, algs             []string
	issuer, audience           string
	maxLifetime, staleness     time.Duration
	listen                     string
	demoLogin                  bool
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		natsURL:   getenv("NATS_URL"),
		natsCreds: getenv("NATS_CREDS"),
		natsCA:    getenv("NATS_TLS_CA"),
		hmac:      []byte(getenv("JWTREVOKE_HMAC_SECRET")),
		jwksURLs:  list(getenv("JWTREVOKE_JWKS_URL")),
		algs:      list(getenv("JWTREVOKE_ALGS")),
		issuer:    getenv("JWTREVOKE_ISSUER"),
		audience:  getenv("JWTREVOKE_AUDIENCE"),
		listen:    or(getenv("LISTEN"), "127.0.0.1:8080"),
		demoLogin: getenv("EXAMPLE_API_DEMO_LOGIN") == "true",
	}
	var err error
	if c.maxLifetime, err = time.ParseDuration(or(getenv("JWTREVOKE_MAX_LIFETIME"), "24h")); err != nil {
		return c, fmt.Errorf("JWTREVOKE_MAX_LIFETIME: %w", err)
	}
	if c.staleness, err = time.ParseDuration(or(getenv("JWTREVOKE_STALENESS"), "5s")); err != nil {
		return c, fmt.Errorf("JWTREVOKE_STALENESS: %w", err)
	}
	switch {
	case c.natsURL == "":
		return c, errors.New("NATS_URL is required")
	case len(c.hmac) > 0 && len(c.jwksURLs) > 0:
		return c, errors.New("give JWTREVOKE_HMAC_SECRET or JWTREVOKE_JWKS_URL, not both")
	case len(c.hmac) == 0 && len(c.jwksURLs) == 0:
		return c, errors.New("no keys: give JWTREVOKE_HMAC_SECRET or JWTREVOKE_JWKS_URL")
	case len(c.hmac) > 0 && len(c.hmac) < 32:
		return c, fmt.Errorf("JWTREVOKE_HMAC_SECRET is %d bytes; HS256 needs at least 32", len(c.hmac))
	case c.demoLogin && len(c.hmac) == 0:
		return c, errors.New("EXAMPLE_API_DEMO_LOGIN needs JWTREVOKE_HMAC_SECRET")
	}
	if len(c.algs) == 0 {
		c.algs = []string{"HS256"}
		if len(c.jwksURLs) > 0 {
			c.algs = []string{"RS256", "ES256", "EdDSA"}
		}
	}
	return c, nil
}

// run serves until ctx ends. listening, if not nil, is told the HTTP
// address once it accepts connections.
func run(ctx context.Context, getenv func(string) string, log *slog.Logger, listening func(addr string)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	keyfunc := func(*jwt.Token) (any, error) { return cfg.hmac, nil }
	if len(cfg.jwksURLs) > 0 {
		jwks, err := keyset.NewJWKS(ctx, cfg.jwksURLs, keyset.WithLogger(log))
		if err != nil {
			return err
		}
		defer jwks.Close()
		keyfunc = jwks.Keyfunc
	}

	opts := []nats.Option{nats.Name("example-api"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true)}
	if cfg.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.natsCreds))
	}
	if cfg.natsCA != "" {
		opts = append(opts, nats.RootCAs(cfg.natsCA))
	}
	nc, err := nats.Connect(cfg.natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err) // the URL may hold a password: not logged
	}
	defer nc.Drain()

	// The stream may not exist yet (jwtrevoke serve creates it): the API
	// starts at once, not ready, and the agent is started in the
	// background until it succeeds.
	var api atomic.Pointer[apiState]
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agentDone := make(chan struct{})
	go func() {
		defer close(agentDone)
		a := startAgent(ctx, nc, cfg, log)
		if a == nil {
			return
		}
		mw, err := verify.Middleware(a, keyset.Keyfunc(keyfunc), cfg.algs, middlewareOptions(cfg)...)
		if err != nil {
			log.Error("middleware", "err", err)
			a.Close()
			return
		}
		reg.MustRegister(a.Collector())
		api.Store(&apiState{agent: a, auth: mw})
	}()
	defer func() {
		<-agentDone
		if s := api.Load(); s != nil {
			s.agent.Close()
		}
	}()

	host, _ := os.Hostname()
	r := chi.NewRouter()
	r.Get("/livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		s := api.Load()
		if s == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "agent not started"})
			return
		}
		stale := s.agent.Staleness()
		ok := s.agent.Ready() && stale <= cfg.staleness
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "stale_seconds": stale.Seconds(), "last_applied_seq": s.agent.LastApplied()})
	})
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r.Get("/hello", func(w http.ResponseWriter, r *http.Request) {
		s := api.Load()
		if s == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "starting"})
			return
		}
		s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, _ := verify.FromContext(r.Context())
			writeJSON(w, http.StatusOK, map[string]any{"hello": v.Token.Subject, "replica": host})
		})).ServeHTTP(w, r)
	})
	if cfg.demoLogin {
		r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
			sub := r.URL.Query().Get("sub")
			if sub == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": "give ?sub=NAME"})
				return
			}
			tok, err := demoToken(cfg, sub)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer"})
		})
		log.Warn("demo login on: POST /login mints tokens with the HMAC secret; never in production")
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("example-api listening", "addr", ln.Addr().String(), "algs", cfg.algs)
	if listening != nil {
		listening(ln.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

type apiState struct {
	agent *agent.Agent
	auth  func(http.Handler) http.Handler
}

// startAgent starts the agent, retrying until the stream exists or ctx
// ends (then it returns nil).
func startAgent(ctx context.Context, nc *nats.Conn, cfg config, log *slog.Logger) *agent.Agent {
	wait := 250 * time.Millisecond
	for {
		a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(cfg.maxLifetime), agent.WithStaleness(cfg.staleness), agent.WithLogger(log))
		if err == nil {
			return a
		}
		log.Warn("starting the revocation agent; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func middlewareOptions(cfg config) []verify.Option {
	var o []verify.Option
	if cfg.issuer != "" {
		o = append(o, verify.WithIssuer(cfg.issuer))
	}
	if cfg.audience != "" {
		o = append(o, verify.WithAudience(cfg.audience))
	}
	return o
}

// demoToken mints a token for sub, with iat to the millisecond (so that
// "log out everywhere" followed by a new login works within the second).
func demoToken(cfg config, sub string) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"jti": rand.Text(), "sid": rand.Text(), "sub": sub,
		"iat": float64(now.UnixMilli()) / 1000,
		"exp": now.Add(min(cfg.maxLifetime, time.Hour)).Unix(),
	}
	if cfg.issuer != "" {
		claims["iss"] = cfg.issuer
	}
	if cfg.audience != "" {
		claims["aud"] = cfg.audience
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(cfg.hmac)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func list(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
