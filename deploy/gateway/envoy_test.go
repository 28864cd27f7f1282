package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// envoyConfig renders envoy.yaml with the ports given and reads it as
// Envoy would: as a v3 Bootstrap, every typed_config resolved, then the
// constraints of Envoy's own proto validation.
func envoyConfig(t *testing.T, listen, upstream, sidecar string) *bootstrapv3.Bootstrap {
	t.Helper()
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	var doc any
	if err := yaml.Unmarshal([]byte(render(t, "envoy.yaml", map[string]string{
		"LISTEN_PORT": port(listen), "UPSTREAM_PORT": port(upstream), "SIDECAR_GRPC_PORT": port(sidecar),
	})), &doc); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("envoy.yaml is not an Envoy v3 bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml fails Envoy's validation: %v", err)
	}
	return b
}

// TestEnvoyConfig: envoy.yaml is a valid bootstrap whose ext_authz filter
// runs before the router, asks the jwtrevoke cluster over HTTP/2 (gRPC)
// with the v3 API, fails closed, and sends no body.
func TestEnvoyConfig(t *testing.T) {
	b := envoyConfig(t, "127.0.0.1:8000", "127.0.0.1:5000", "127.0.0.1:9191")
	az, clusterName := envoyExtAuthz(t, b)
	if az.GetFailureModeAllow() {
		t.Error("failure_mode_allow is true: a sidecar that is down would let every token through")
	}
	if c := az.GetStatusOnError().GetCode(); c < 500 {
		t.Errorf("status_on_error %v, want a 5xx (the sidecar failed, not the client)", c)
	}
	if az.GetWithRequestBody() != nil {
		t.Error("with_request_body is set: requests would wait for their bodies")
	}
	if az.GetTransportApiVersion().String() != "V3" {
		t.Errorf("transport_api_version %v, want V3", az.GetTransportApiVersion())
	}
	c := envoyCluster(t, b, clusterName)
	var opts upstreamsv3.HttpProtocolOptions
	if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
		t.Fatalf("cluster %s: protocol options: %v", clusterName, err)
	}
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("cluster %s does not speak HTTP/2: gRPC needs it", clusterName)
	}
	if got := envoyEndpoint(t, c); got != "127.0.0.1:9191" {
		t.Errorf("cluster %s points at %s, want the sidecar on loopback", clusterName, got)
	}
}

// envoyExtAuthz returns the ext_authz filter of the bootstrap's listener
// and the cluster it asks, failing unless it comes before the router.
func envoyExtAuthz(t *testing.T, b *bootstrapv3.Bootstrap) (*extauthzv3.ExtAuthz, string) {
	t.Helper()
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 || len(ls[0].GetFilterChains()[0].GetFilters()) != 1 {
		t.Fatal("envoy.yaml: want one listener with one filter chain of one filter")
	}
	var hcm hcmv3.HttpConnectionManager
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("the listener's filter is not an HTTP connection manager: %v", err)
	}
	var az *extauthzv3.ExtAuthz
	for i, f := range hcm.GetHttpFilters() {
		switch {
		case strings.HasSuffix(f.GetTypedConfig().GetTypeUrl(), "ext_authz.v3.ExtAuthz"):
			az = &extauthzv3.ExtAuthz{}
			if err := f.GetTypedConfig().UnmarshalTo(az); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(f.GetTypedConfig().GetTypeUrl(), "router.v3.Router"):
			if az == nil || i != len(hcm.GetHttpFilters())-1 {
				t.Fatal("envoy.yaml: the router is not the last filter, after ext_authz")
			}
		}
	}
	if az == nil {
		t.Fatal("envoy.yaml: no ext_authz filter")
	}
	name := az.GetGrpcService().GetEnvoyGrpc().GetClusterName()
	if name == "" {
		t.Fatal("envoy.yaml: ext_authz does not use a gRPC cluster")
	}
	return az, name
}

func envoyCluster(t *testing.T, b *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("envoy.yaml: no cluster %q", name)
	return nil
}

func envoyEndpoint(t *testing.T, c *clusterv3.Cluster) string {
	t.Helper()
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("cluster %s: want one endpoint", c.GetName())
	}
	sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
}

// envoyCheck sends the CheckRequest Envoy's ext_authz filter (as
// envoy.yaml configures it: headers in the lower-cased map, no body) makes
// of a GET with the given Authorization header and a forged identity.
func envoyCheck(ctx context.Context, c authv3.AuthorizationClient, authorization string) (*authv3.CheckResponse, error) {
	h := map[string]string{
		":authority": "api.example.com", ":method": "GET", ":path": "/api/orders", ":scheme": "http",
		"user-agent": "Mozilla/5.0", "x-forwarded-proto": "http", "x-request-id": "1b4c6f0e-0c55-4a53-9b7f-3a2f4e1d2c11",
		"x-auth-subject": "mallory",
	}
	if authorization != "" {
		h["authorization"] = authorization
	}
	return c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: tcpAddress("127.0.0.1", 50412)},
		Destination: &authv3.AttributeContext_Peer{Address: tcpAddress("127.0.0.1", 8000)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "9876543210", Method: "GET", Headers: h, Path: "/api/orders", Host: "api.example.com",
			Scheme: "http", Protocol: "HTTP/1.1",
		}},
	}})
}

// TestEnvoyExtAuthzLogout replays the story against two jwtrevoke serve
// --check-only sidecars at the addresses two renderings of envoy.yaml give
// their ext_authz clusters, asking as Envoy asks: allowed with the token's
// identity over the client's; after logout at a central serve refused at both
// with a 401 and the challenge; a new session allowed; a sidecar that is
// down is a gRPC failure, which envoy.yaml turns into a 503.
func TestEnvoyExtAuthzLogout(t *testing.T) {
	ns := testkit.NATS(t, "")
	addrs := ports(t, 5) // 2 sidecars' HTTP and gRPC, the central serve
	central := sidecar(t, ns.ClientURL(), addrs[4])
	var cars []*proc
	var clients []authv3.AuthorizationClient
	for i := range 2 {
		b := envoyConfig(t, "127.0.0.1:8000", "127.0.0.1:5000", addrs[2+i])
		_, name := envoyExtAuthz(t, b)
		grpcAddr := envoyEndpoint(t, envoyCluster(t, b, name))
		cars = append(cars, sidecar(t, ns.ClientURL(), addrs[i], "--check-only", "--ext-authz-listen", grpcAddr))
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, authv3.NewAuthorizationClient(conn))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	allowed := func(i int, tok string) (bool, *authv3.CheckResponse) {
		resp, err := envoyCheck(ctx, clients[i], "Bearer "+tok)
		if err != nil {
			t.Fatalf("sidecar %d: Check: %v", i, err)
		}
		return resp.GetStatus().GetCode() == int32(codes.OK) && resp.GetOkResponse() != nil, resp
	}

	old := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-login-1", "alice", "sess-1", time.Now().Add(-time.Minute)), "")
	for i := range clients {
		ok, resp := allowed(i, old)
		if !ok {
			t.Fatalf("sidecar %d: logged-in check refused: %v", i, resp)
		}
		set := map[string]string{}
		for _, h := range resp.GetOkResponse().GetHeaders() {
			set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		if set["x-auth-subject"] != "alice" || set["x-auth-session"] != "sess-1" || set["x-auth-token-id"] != "jti-login-1" {
			t.Errorf("sidecar %d: identity headers %v", i, set)
		}
	}
	loggedOut := time.Now()
	logout(t, central, "sess-1")
	for i := range clients {
		testkit.Eventually(t, fmt.Sprintf("sidecar %d refusing the logged-out token", i), func() bool {
			ok, _ := allowed(i, old)
			return !ok
		})
		t.Logf("ext_authz sidecar %d: old token refused %v after the logout call began", i, time.Since(loggedOut).Round(time.Microsecond))
		_, resp := allowed(i, old)
		d := resp.GetDeniedResponse()
		if d.GetStatus().GetCode() != 401 || resp.GetStatus().GetCode() != int32(codes.Unauthenticated) {
			t.Errorf("sidecar %d: refused with HTTP %v, gRPC %v; want 401, Unauthenticated", i, d.GetStatus().GetCode(), resp.GetStatus())
		}
		var challenge string
		for _, h := range d.GetHeaders() {
			if h.GetHeader().GetKey() == "www-authenticate" {
				challenge = h.GetHeader().GetValue()
			}
		}
		if !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("sidecar %d: www-authenticate %q", i, challenge)
		}
	}
	fresh := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-login-2", "alice", "sess-2", time.Now()), "")
	for i := range clients {
		if ok, resp := allowed(i, fresh); !ok {
			t.Errorf("sidecar %d: new session refused: %v", i, resp)
		}
	}
	if resp, err := envoyCheck(ctx, clients[0], ""); err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 401 {
		t.Errorf("no token: %v %v, want a 401", resp, err)
	}

	cars[1].stop()
	short, cancelShort := context.WithTimeout(ctx, time.Second) // envoy.yaml's timeout
	defer cancelShort()
	if _, err := envoyCheck(short, clients[1], "Bearer "+fresh); err == nil {
		t.Error("a stopped sidecar answered")
	}
	// No Envoy binary can be installed here: the filter's answer to that
	// failure is envoy.yaml's status_on_error, checked by TestEnvoyConfig.
}

func tcpAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}
