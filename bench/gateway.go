package main

// Scenario 9: what a request of an API that cannot embed the agent (a .NET
// API behind a React app) pays for the revocation check: forward auth
// (nginx auth_request, Caddy forward_auth) and Envoy ext_authz against a
// sidecar on loopback, beside RFC 7662 /introspect on the same sidecar and
// beside the API asking Redis EXISTS itself.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/gateway/extauthz"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// gatewayWay is one way of asking "may this request pass?", timed per
// request.
type gatewayWay struct {
	name string
	ask  func(ctx context.Context, i int) error // i picks the token
	lat  []time.Duration
}

func runGateway(ctx context.Context, s *scenarioRun) error {
	p := s.plan
	ns, err := s.startNATS()
	if err != nil {
		return err
	}
	pub, err := newPublisher(ctx, ns)
	if err != nil {
		return err
	}
	g := newKeyGen(s.seedFor("keys"))
	now := time.Now()
	if _, err := s.fill(ctx, pub, g.keys(p.mwLive), 0, now); err != nil {
		return err
	}
	a, _, err := newAgent(ctx, ns)
	if err != nil {
		return err
	}
	s.defer_(func() { a.Close() })
	algs, err := signingAlgs(g)
	if err != nil {
		return err
	}
	alg := algs[0] // HS256: the signature's cost is not what differs between the ways
	v, err := verify.New(keyset.Keyfunc(alg.keyfunc()), []string{alg.name})
	if err != nil {
		return err
	}
	tokens := make([]string, p.httpTokens)
	jtis := make([]string, p.httpTokens)
	for i := range tokens {
		jtis[i] = g.next()
		if tokens[i], err = alg.token(jtis[i], now); err != nil {
			return err
		}
	}

	fa, err := gateway.NewForwardAuth(a, v)
	if err != nil {
		return err
	}
	faURL, err := s.serve(fa)
	if err != nil {
		return err
	}
	const clientID, clientSecret = "bench-api", "bench-api-secret-0123456789"
	in, err := oauth.NewIntrospectionHandler(a, v, oauth.WithClientCredentials(clientID, clientSecret))
	if err != nil {
		return err
	}
	inURL, err := s.serve(in)
	if err != nil {
		return err
	}
	grpcAddr, err := s.serveExtAuthz(a, v)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	s.defer_(func() { conn.Close() })
	az := authv3.NewAuthorizationClient(conn)
	checks := make([]*authv3.CheckRequest, len(tokens))
	for i, tok := range tokens {
		checks[i] = &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Id: fmt.Sprint(i), Method: "GET", Path: "/api/orders", Host: "api.example.com", Scheme: "https", Protocol: "HTTP/1.1",
				Headers: map[string]string{":authority": "api.example.com", ":method": "GET", ":path": "/api/orders", ":scheme": "https",
					"accept": "application/json", "authorization": "Bearer " + tok, "user-agent": "Mozilla/5.0", "x-request-id": fmt.Sprintf("req-%08d", i)}},
		}}}
	}
	// One keep-alive connection per HTTP server, as a gateway keeps to its
	// sidecar (deploy/gateway/nginx.conf's upstream keepalive, Caddy's default).
	tr := &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(ctx context.Context, u string, h http.Header, want int) error {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return err
		}
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s: status %d, want %d", u, resp.StatusCode, want)
		}
		return nil
	}
	faHeaders := make([]http.Header, len(tokens))
	inBodies := make([]string, len(tokens))
	for i, tok := range tokens {
		faHeaders[i] = http.Header{"Authorization": {"Bearer " + tok}}
		inBodies[i] = url.Values{"token": {tok}}.Encode()
	}
	ways := []*gatewayWay{
		{name: "forward auth", ask: func(ctx context.Context, i int) error { return get(ctx, faURL, faHeaders[i], http.StatusOK) }},
		{name: "ext_authz", ask: func(ctx context.Context, i int) error {
			resp, err := az.Check(ctx, checks[i])
			if err != nil {
				return err
			}
			if resp.GetStatus().GetCode() != int32(codes.OK) {
				return fmt.Errorf("ext_authz refused a live token: %v", resp.GetStatus())
			}
			return nil
		}},
		{name: "/introspect", ask: func(ctx context.Context, i int) error {
			req, err := http.NewRequestWithContext(ctx, "POST", inURL, strings.NewReader(inBodies[i]))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(clientID, clientSecret)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"active":true`) {
				return fmt.Errorf("/introspect: %d %s", resp.StatusCode, body)
			}
			return nil
		}},
	}
	if s.redis != nil {
		rc := s.redis.client
		ways = append(ways, &gatewayWay{name: "Redis EXISTS", ask: func(ctx context.Context, i int) error {
			n, err := rc.Exists(ctx, "revoked:jti:"+jtis[i]).Result()
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("Redis EXISTS found a key never written")
			}
			return nil
		}})
	} else {
		s.note("no redis-server: the Redis EXISTS column is skipped")
	}
	// Warm up every way (connections, caches), then time them request by
	// request in an order drawn at random each iteration, so noise hits
	// them alike; bounded by the plan's request count and time.
	for _, w := range ways {
		for i := range min(200, p.httpRequests) {
			if err := w.ask(ctx, i%len(tokens)); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(p.httpRounds)*p.httpDuration*time.Duration(len(ways)))
	defer cancel()
	coin := g.r
	order := make([]*gatewayWay, len(ways))
	n := 0
	for ; n < p.httpRequests && rctx.Err() == nil; n++ {
		copy(order, ways)
		for i := len(order) - 1; i > 0; i-- {
			j := int(coin.Uint64() % uint64(i+1))
			order[i], order[j] = order[j], order[i]
		}
		for _, w := range order {
			t0 := time.Now()
			if err := w.ask(rctx, n%len(tokens)); err != nil {
				if rctx.Err() != nil {
					break
				}
				return fmt.Errorf("%s: %w", w.name, err)
			}
			w.lat = append(w.lat, time.Since(t0))
		}
	}
	s.log.printf("%d requests of each way, one client, interleaved", n)
	var redis *gatewayWay
	if s.redis != nil {
		redis = ways[len(ways)-1]
	}
	for _, w := range ways[:3] {
		sorted := sortedCopy(w.lat)
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p99", 0.99}} {
			ours := quantile(sorted, q.q)
			row := Row{
				Figure: fmt.Sprintf("non-Go API, per request: %s on loopback, %s", w.name, q.name),
				Ours:   Value{Value: float64(ours.Nanoseconds()) / 1e3, Unit: "µs", Text: durText(ours)},
			}
			if redis == nil {
				row.Comparison = &Value{Label: "Redis EXISTS", Text: "skipped (no redis-server)"}
				row.skip("")
			} else {
				r := quantile(sortedCopy(redis.lat), q.q)
				row.Comparison = &Value{Label: "Redis EXISTS (go-redis, loopback; the API verifies the JWT itself besides)", Value: float64(r.Nanoseconds()) / 1e3, Unit: "µs", Text: durText(r)}
				row.ratio(float64(ours)/float64(r), num(float64(ours)/float64(r))+"× Redis")
			}
			s.add(row)
		}
	}
	s.note("scenario 9: one client asks each way in turn, order drawn at random per request, %s live revocations in the agent, %d distinct HS256 tokens; forward auth, ext_authz and /introspect verify the token and check it (so the API need not verify it again), while the Redis figure is the round trip alone, before the API's own verification; all servers in this process on loopback, keep-alive connections, gRPC over one HTTP/2 connection", countText(p.mwLive), len(tokens))
	return nil
}

// serveExtAuthz starts the ext_authz gRPC server on a free loopback port,
// stopped when the scenario ends.
func (s *scenarioRun) serveExtAuthz(a *agent.Agent, v *verify.Verifier) (string, error) {
	srv, err := extauthz.New(a, v)
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(extauthz.MaxRequestBytes))
	srv.Register(gs)
	go gs.Serve(l)
	s.defer_(gs.Stop)
	return l.Addr().String(), nil
}
