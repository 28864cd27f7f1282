package serve

// The HTTP side of `jwtrevoke serve`: routes, health and metrics. The
// admin API is in admin.go and admin_stream.go.

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/gateway/extauthz"
	"github.com/jwtrevoke/jwtrevoke/idp"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// service is what `jwtrevoke serve` puts behind HTTP. Its
// handlers are safe for use by multiple goroutines.
type service struct {
	pub         *publisher.Publisher
	agent       *agent.Agent
	verifier    *verify.Verifier
	stream      jetstream.Stream
	log         *slog.Logger
	contract    jwtrevoke.Contract // the stream's
	clients     []client
	public      bool
	corsOrigins []string
	adminToken  string // "" turns the admin API off
	idp         *idpConfig
	sets        *idp.SETReceiver      // built by routes when SETs are taken
	agents      *publisher.AgentWatch // nil when the agents cannot be heard
	forwardAuth []gateway.Option
	extAuthz    *extauthz.Server // built by routes when extAuthzOn
	extAuthzOn  bool
	now         func() time.Time
}

// routes returns the service's handler.
func (s *service) routes() (http.Handler, error) {
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	metrics, err := s.oauthRoutes(mux)
	if err != nil {
		return nil, err
	}
	s.adminRoutes(mux)
	im, err := s.idpRoutes(mux)
	if err != nil {
		return nil, err
	}
	metrics = append(metrics, im...)
	fa, err := gateway.NewForwardAuth(s.agent, s.verifier, append([]gateway.Option{gateway.WithLogger(s.log)}, s.forwardAuth...)...)
	if err != nil {
		return nil, err
	}
	mux.Handle("/forward-auth", fa)
	metrics = append(metrics, fa.Collector())
	if s.extAuthzOn {
		if s.extAuthz, err = extauthz.New(s.agent, s.verifier, append([]gateway.Option{gateway.WithLogger(s.log)}, s.forwardAuth...)...); err != nil {
			return nil, err
		}
		metrics = append(metrics, s.extAuthz.Collector())
	}
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	metrics = append(metrics, s.agent.Collector())
	if s.pub != nil {
		metrics = append(metrics, s.pub.Collector())
	}
	if s.agents != nil {
		metrics = append(metrics, newAgentsCollector(s.agents, s.agent.LastApplied))
	}
	mh, err := s.metricsHandler(metrics)
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /metrics", mh)
	return s.accessLog(mux), nil
}

// oauthRoutes adds RFC 7009 /revoke and RFC 7662 /introspect to mux, for
// the confidential clients (and /revoke for anyone with --public-client or
// --cors-origin), and returns the handlers' metrics.
func (s *service) oauthRoutes(mux *http.ServeMux) ([]prometheus.Collector, error) {
	var ropts []oauth.Option
	var iopts []oauth.Option
	for _, c := range s.clients {
		ropts = append(ropts, oauth.WithClientCredentials(c.id, c.secret))
		iopts = append(iopts, oauth.WithClientCredentials(c.id, c.secret))
	}
	if s.public {
		ropts = append(ropts, oauth.WithPublicClient(s.corsOrigins...))
	}
	ropts = append(ropts, oauth.WithLogger(s.log))
	iopts = append(iopts, oauth.WithLogger(s.log))
	var metrics []prometheus.Collector
	if s.pub == nil {
		mux.HandleFunc("/revoke", checkOnly)
	} else {
		revoke, err := oauth.NewRevocationHandler(s.pub, s.verifier, ropts...)
		if err != nil {
			return nil, err
		}
		mux.Handle("/revoke", revoke)
		metrics = append(metrics, revoke.Collector())
	}
	if len(s.clients) == 0 {
		// RFC 7662 §2.1: the endpoint must require authorization.
		mux.HandleFunc("/introspect", func(w http.ResponseWriter, _ *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "not_found", "introspection needs a confidential client: start serve with --client id:secret")
		})
		return metrics, nil
	}
	introspect, err := oauth.NewIntrospectionHandler(s.agent, s.verifier, iopts...)
	if err != nil {
		return nil, err
	}
	mux.Handle("/introspect", introspect)
	return append(metrics, introspect.Collector()), nil
}

// checkOnly answers a revoking route of a --check-only service.
func checkOnly(w http.ResponseWriter, _ *http.Request) {
	httpjson.Error(w, http.StatusNotFound, "not_found", "this serve runs with --check-only: revoke at a jwtrevoke serve without it (or with jwtrevoke revoke)")
}

// metricsHandler serves the metrics of the Go runtime, the process and
// cs, in a registry of the service's own.
func (s *service) metricsHandler(cs []prometheus.Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range append([]prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}, cs...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}), nil
}

// accessLog logs each request at debug level: method, path, status and
// duration. Never the body or query, where tokens travel.
func (s *service) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// handleReadyz answers 200 when the agent has replayed the stream and is
// fresh, 503 with the reason otherwise (httpjson.Health). stale_seconds
// and last_applied_seq are the names serve first gave staleness_ms and
// last_applied.
func (s *service) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	h := s.agent.Health()
	httpjson.Health(w, h, map[string]any{"stale_seconds": max(h.Staleness.Seconds(), 0), "last_applied_seq": h.LastApplied})
}
