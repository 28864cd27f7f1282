package extauthz_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/gateway/extauthz"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

type env struct {
	pub    *publisher.Publisher
	a      *agent.Agent
	srv    *extauthz.Server
	client authv3.AuthorizationClient
	conn   *grpc.ClientConn
}

// newEnv starts NATS, a publisher, an agent and the server on a gRPC
// listener of its own on loopback, and a client to it.
func newEnv(t *testing.T, aopts []agent.Option, opts ...gateway.Option) *env {
	t.Helper()
	s := testkit.NATS(t, "")
	e := &env{pub: testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))}
	e.a = testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), aopts...)
	v, err := verify.New(testkit.HMACKeys(), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv, err = extauthz.New(e.a, v, opts...); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(extauthz.MaxRequestBytes))
	e.srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	e.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	e.client = authv3.NewAuthorizationClient(e.conn)
	return e
}

// envoyRequest is testdata/check-request.json, a CheckRequest as Envoy's
// ext_authz filter sends one (headers lower-cased in a map), with the
// Authorization header's value set to authz, or removed when it is "".
func envoyRequest(t *testing.T, authz string) *authv3.CheckRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/check-request.json")
	if err != nil {
		t.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		t.Fatal(err)
	}
	h := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
	if h["authorization"] != "TOKEN" {
		t.Fatal("testdata/check-request.json: no authorization header to fill in")
	}
	if authz == "" {
		delete(h, "authorization")
	} else {
		h["authorization"] = authz
	}
	return req
}

func (e *env) check(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	resp, err := e.client.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

// upstream applies an allowed answer to the request's headers in Envoy's
// order (set, then remove: source/extensions/filters/http/ext_authz) and
// returns the headers the upstream would see.
func upstream(t *testing.T, req *authv3.CheckRequest, resp *authv3.CheckResponse) map[string]string {
	t.Helper()
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != int32(codes.OK) || ok == nil {
		t.Fatalf("not allowed: status %v, %v", resp.GetStatus(), resp.GetDeniedResponse())
	}
	out := map[string]string{}
	for k, v := range req.GetAttributes().GetRequest().GetHttp().GetHeaders() {
		out[k] = v
	}
	for _, h := range ok.GetHeaders() {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD || h.GetAppend() != nil {
			t.Errorf("header %s: append action %v (append %v), want it to overwrite", h.GetHeader().GetKey(), h.GetAppendAction(), h.GetAppend())
		}
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	for _, k := range ok.GetHeadersToRemove() {
		delete(out, k)
	}
	return out
}

// refusal returns the reason and challenge of a denied answer, failing
// the test unless it is a well-formed 401.
func refusal(t *testing.T, resp *authv3.CheckResponse) (reason, challenge string) {
	t.Helper()
	d := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() != int32(codes.Unauthenticated) || d == nil || d.GetStatus().GetCode() != 401 {
		t.Fatalf("want a denied 401, got status %v, ok %v, denied %v", resp.GetStatus(), resp.GetOkResponse(), d)
	}
	hs := map[string]string{}
	for _, h := range d.GetHeaders() {
		hs[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if hs["x-auth-reason"] != resp.GetStatus().GetMessage() {
		t.Errorf("x-auth-reason %q, status message %q", hs["x-auth-reason"], resp.GetStatus().GetMessage())
	}
	return hs["x-auth-reason"], hs["www-authenticate"]
}

// TestCheckStory: an Envoy-shaped check of a valid token is allowed and
// the upstream sees the token's identity, not the client's forged headers;
// once its session is revoked the same check is a 401 with the RFC 6750
// challenge, while a new session's token is allowed.
func TestCheckStory(t *testing.T) {
	e := newEnv(t, nil, gateway.WithRealm("api"))
	noSID := testkit.Claims("jti-1", "alice", "", time.Now().Add(-time.Minute))
	delete(noSID, "sid")
	up := upstream(t, envoyRequest(t, ""), e.check(t, envoyRequest(t, "Bearer "+testkit.SignHS256(t, testkit.HMACKey, noSID, ""))))
	if up["x-auth-subject"] != "alice" || up["x-auth-token-id"] != "jti-1" {
		t.Errorf("upstream identity %q %q, want alice jti-1", up["x-auth-subject"], up["x-auth-token-id"])
	}
	if v, ok := up["x-auth-session"]; ok {
		t.Errorf("upstream x-auth-session = %q: the client's forged header survived a token with no sid", v)
	}
	if v, ok := up["jwtrevoke-stale"]; ok {
		t.Errorf("upstream jwtrevoke-stale = %q from a fresh agent", v)
	}

	old := "Bearer " + testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-2", "alice", "sess-1", time.Now().Add(-time.Minute)), "")
	if up := upstream(t, envoyRequest(t, ""), e.check(t, envoyRequest(t, old))); up["x-auth-session"] != "sess-1" {
		t.Errorf("upstream x-auth-session = %q, want sess-1", up["x-auth-session"])
	}
	rc, err := e.pub.RevokeSession(context.Background(), "sess-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	reason, challenge := refusal(t, e.check(t, envoyRequest(t, old)))
	if reason != "revoked" {
		t.Errorf("after logout: reason %q, want revoked", reason)
	}
	if want := `Bearer realm="api", error="invalid_token", error_description="the token has been revoked"`; challenge != want {
		t.Errorf("www-authenticate = %q, want %q", challenge, want)
	}
	fresh := "Bearer " + testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-3", "alice", "sess-2", time.Now()), "")
	upstream(t, envoyRequest(t, ""), e.check(t, envoyRequest(t, fresh)))

	mfs := testkit.Gather(t, e.srv.Collector())
	for outcome, want := range map[string]float64{"allowed": 3, "revoked": 1} {
		if got, _ := testkit.MetricValue(mfs, "jwtrevoke_ext_authz_requests_total", "outcome", outcome); got != want {
			t.Errorf("jwtrevoke_ext_authz_requests_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// raw is a CheckRequest as Envoy sends it with encode_raw_headers: the
// headers as a list, repeated ones apart, values as bytes.
func raw(pairs ...string) *authv3.CheckRequest {
	hm := &corev3.HeaderMap{}
	for i := 0; i+1 < len(pairs); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: pairs[i], RawValue: []byte(pairs[i+1])})
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", HeaderMap: hm}}}}
}

// mapped is a CheckRequest with the headers map given.
func mapped(h map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Headers: h}}}}
}

// TestCheckRefuses: every kind of bad check is a 401 with its reason and
// counted, never allowed and never a gRPC error (which Envoy would treat
// as the server failing).
func TestCheckRefuses(t *testing.T) {
	e := newEnv(t, nil, gateway.WithCookie("at"))
	now := time.Now()
	good := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j", "s", "d", now), "")
	wrongType := testkit.Claims("j", "s", "d", now)
	wrongType["sub"] = []string{"a", "b"}
	for _, tc := range []struct {
		name   string
		req    *authv3.CheckRequest
		reason string
	}{
		{"empty request", &authv3.CheckRequest{}, "missing"},
		{"no token", envoyRequest(t, ""), "missing"},
		{"basic scheme", envoyRequest(t, "Basic dXNlcjpwdw=="), "malformed"},
		{"two authorization headers, joined by Envoy", envoyRequest(t, "Bearer "+good+",Bearer "+good), "malformed"},
		{"two authorization headers, raw", raw("authorization", "Bearer "+good, "authorization", "Bearer "+good), "malformed"},
		{"two spellings of the header", mapped(map[string]string{"authorization": "Bearer " + good, "Authorization": "Bearer " + good}), "malformed"},
		{"map and raw list both", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"authorization": "Bearer " + good},
				HeaderMap: raw("authorization", "Bearer "+good).Attributes.Request.Http.HeaderMap}}}}, "malformed"},
		{"bad signature", envoyRequest(t, "Bearer "+good[:len(good)-2]+"xx"), "invalid"},
		{"alg none", envoyRequest(t, "Bearer eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0."), "invalid"},
		{"sub of the wrong type", envoyRequest(t, "Bearer "+testkit.SignHS256(t, testkit.HMACKey, wrongType, "")), "malformed"},
		{"huge token", envoyRequest(t, "Bearer "+strings.Repeat("a", 100<<10)+".b.c"), "malformed"},
		{"two cookies of the name, joined by Envoy", mapped(map[string]string{"cookie": "at=" + good + "; theme=dark; at=" + good}), "malformed"},
		{"two cookie headers of the name, raw", raw("cookie", "at="+good, "cookie", "at="+good), "malformed"},
	} {
		reason, challenge := refusal(t, e.check(t, tc.req))
		if reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.reason)
		}
		if tc.reason == "missing" && challenge != "Bearer" || tc.reason != "missing" && !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("%s: www-authenticate = %q", tc.name, challenge)
		}
	}
	for _, req := range []*authv3.CheckRequest{
		mapped(map[string]string{"cookie": "theme=dark; at=" + good}),
		raw("cookie", "theme=dark", "cookie", "at="+good, ":path", "/"),
		raw("Authorization", "Bearer "+good), // another client's spelling
	} {
		if resp := e.check(t, req); resp.GetOkResponse() == nil {
			t.Errorf("%v: refused, want allowed: %v", req.GetAttributes().GetRequest().GetHttp(), resp.GetDeniedResponse())
		}
	}
	mfs := testkit.Gather(t, e.srv.Collector())
	if got, _ := testkit.MetricValue(mfs, "jwtrevoke_ext_authz_requests_total", "outcome", "malformed"); got != 9 {
		t.Errorf("jwtrevoke_ext_authz_requests_total{outcome=malformed} = %v, want 9", got)
	}
	// A message past the limit the server was given is refused by gRPC
	// itself, before any of it is kept.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	_, err := e.client.Check(ctx, envoyRequest(t, "Bearer "+strings.Repeat("a", extauthz.MaxRequestBytes)))
	if status, _ := grpcCode(err); status != codes.ResourceExhausted {
		t.Errorf("an oversized CheckRequest: %v, want ResourceExhausted", err)
	}
}

// TestCheckStale: a stale agent refuses under FailClosed and allows under
// FailOpen, the upstream then told why in Jwtrevoke-Stale.
func TestCheckStale(t *testing.T) {
	const bound = 100 * time.Millisecond
	for _, policy := range []agent.Policy{agent.FailClosed, agent.FailOpen} {
		t.Run(policy.String(), func(t *testing.T) {
			clk := testkit.NewManualClock()
			e := newEnv(t, []agent.Option{agent.WithStaleness(bound), agent.WithClock(clk.Now), agent.WithPolicy(policy)})
			tok := "Bearer " + testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("stale-1", "alice", "s", time.Now()), "")
			upstream(t, envoyRequest(t, ""), e.check(t, envoyRequest(t, tok)))
			e.a.Close() // no more heartbeats: the agent's answers age
			clk.Advance(bound + time.Nanosecond)
			resp := e.check(t, envoyRequest(t, tok))
			if policy == agent.FailClosed {
				if reason, _ := refusal(t, resp); reason != "stale" {
					t.Errorf("reason %q, want stale", reason)
				}
				return
			}
			if got := upstream(t, envoyRequest(t, ""), resp)["jwtrevoke-stale"]; got != "stale" {
				t.Errorf("upstream jwtrevoke-stale = %q, want stale", got)
			}
		})
	}
}

// TestHealth: the gRPC health service reports the Authorization service
// serving (Envoy's and Kubernetes' gRPC health checks ask it).
func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	for _, svc := range []string{"", authv3.Authorization_ServiceDesc.ServiceName} {
		resp, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v, want SERVING", svc, resp.GetStatus(), err)
		}
	}
}

func grpcCode(err error) (codes.Code, bool) {
	s, ok := grpcstatus.FromError(err)
	return s.Code(), ok
}
