package extauthz

import (
	"context"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// MaxRequestBytes is the largest CheckRequest worth reading: Envoy's
// default limit on a request's headers is 60 KiB, and the configurations
// in deploy/envoy send no body. Give it to grpc.MaxRecvMsgSize.
const MaxRequestBytes = 256 << 10

// Server answers Envoy's authorization checks. It is safe for use by
// multiple goroutines.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	authz   *gateway.Authorizer
	metrics *gateway.Outcomes
}

// New returns the server for agent a, verifying tokens with v; opts are
// package gateway's (identity headers, cookie, realm, logger).
func New(a *agent.Agent, v *verify.Verifier, opts ...gateway.Option) (*Server, error) {
	z, err := gateway.NewAuthorizer(a, v, opts...)
	if err != nil {
		return nil, err
	}
	return &Server{authz: z, metrics: gateway.NewOutcomes("jwtrevoke_ext_authz_requests_total",
		"Envoy ext_authz checks answered, by outcome: allowed, or the reason of a 401.")}, nil
}

// Register registers the server on g as envoy.service.auth.v3.Authorization,
// and a gRPC health service that reports it serving.
func (s *Server) Register(g *grpc.Server) {
	authv3.RegisterAuthorizationServer(g, s)
	h := health.NewServer()
	h.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, h)
}

// Check answers one CheckRequest. A refusal is a response, not an error:
// gRPC errors are for Envoy's failure_mode_allow to judge, and only a
// server that cannot answer should cause one.
func (s *Server) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d := s.authz.Decide(request(req.GetAttributes().GetRequest().GetHttp()))
	s.metrics.Count(d)
	if !d.Allowed {
		return denied(d), nil
	}
	ok := &authv3.OkHttpResponse{}
	for _, h := range d.Headers {
		name := strings.ToLower(h.Name)
		if h.Value == "" {
			// Removed after the headers are set (Envoy's order), so a
			// client's own value of a claim the token lacks is gone too.
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
			continue
		}
		ok.Headers = append(ok.Headers, header(name, h.Value))
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

// request reads the token's carriers off the attributes of an HTTP
// request: the headers map Envoy sends by default (keys lower-cased,
// repeated headers joined), or the raw header list it sends with
// encode_raw_headers (repeated headers apart). Keys are compared without
// regard to case, so two spellings of one header count as two headers.
func request(h *authv3.AttributeContext_HttpRequest) gateway.Request {
	var r gateway.Request
	add := func(k, v string) {
		switch {
		case strings.EqualFold(k, "authorization"):
			r.Authorization = append(r.Authorization, v)
		case strings.EqualFold(k, "cookie"):
			r.Cookie = append(r.Cookie, v)
		case strings.EqualFold(k, jwtrevoke.SeqHeader):
			r.Seq = append(r.Seq, v)
		}
	}
	for k, v := range h.GetHeaders() {
		add(k, v)
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		add(hv.GetKey(), v)
	}
	return r
}

// denied is the 401 of refusal d.
func denied(d gateway.Decision) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.Unauthenticated), Message: string(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
			Headers: []*corev3.HeaderValueOption{
				header("www-authenticate", d.Challenge),
				header("x-auth-reason", string(d.Reason)),
				header("cache-control", "no-store"),
			},
		}},
	}
}

// header is a header that replaces any of its name.
func header(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// Collector returns the server's metrics:
// jwtrevoke_ext_authz_requests_total{outcome}, outcome "allowed" or the
// refusal's reason.
func (s *Server) Collector() prometheus.Collector { return s.metrics }
