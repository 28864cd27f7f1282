package main

// Scenario 2: what the revocation check adds to a request, per signing
// algorithm through the middleware, and end to end over loopback HTTP.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

type signingAlg struct {
	name   string
	method jwt.SigningMethod
	sign   any
	verify any
}

func signingAlgs(g *keyGen) ([]signingAlg, error) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(g.r.Uint32())
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return []signingAlg{
		{"HS256", jwt.SigningMethodHS256, secret, secret},
		{"ES256", jwt.SigningMethodES256, ecKey, &ecKey.PublicKey},
		{"RS256", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, edPriv, edPub},
	}, nil
}

func (a signingAlg) token(jti string, now time.Time) (string, error) {
	t := jwt.NewWithClaims(a.method, jwt.MapClaims{
		"jti": jti, "sub": "user-" + jti[:8], "sid": jti[9:23], "iss": "https://id.example",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	t.Header["kid"] = "key-2026-01"
	return t.SignedString(a.sign)
}

func (a signingAlg) keyfunc() jwt.Keyfunc {
	return func(*jwt.Token) (any, error) { return a.verify, nil }
}

// verifiedNoCheck is what the comparison middleware hands to the next
// handler: the same verified token, without a revocation verdict.
type verifiedNoCheck struct {
	JWT   *jwt.Token
	Token jwtrevoke.Token
}

type noCheckKey struct{}

// withoutCheck is the middleware minus the revocation check: the same
// verify.Verifier (golang-jwt parse and verify, exp, jti) and the same
// hand-off of the verified token in the request context.
func withoutCheck(v *verify.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := verify.BearerToken(r)
			if err != nil {
				verify.DefaultErrorHandler(w, r, &verify.Error{Reason: jwtrevoke.ReasonMalformed, Err: err})
				return
			}
			tok, t, aerr := v.Verify(raw)
			if aerr != nil {
				verify.DefaultErrorHandler(w, r, verify.AsError(aerr))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), noCheckKey{}, &verifiedNoCheck{JWT: tok, Token: t})))
		})
	}
}

// statusWriter is a reusable ResponseWriter that keeps only the status.
type statusWriter struct {
	code int
	h    http.Header
}

func (w *statusWriter) Header() http.Header         { return w.h }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(code int)        { w.code = code }

func runMiddleware(ctx context.Context, s *scenarioRun) error {
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
	if _, err := s.fill(ctx, pub, g.keys(s.plan.mwLive), 0, now); err != nil {
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
	s.note("the agent holds %s live revocations; every request's token is live (not revoked), signed with the algorithm named, claims jti, sub, sid, iss, iat, exp and a kid header, parsed as jwt.MapClaims", countText(s.plan.mwLive))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, alg := range algs {
		tok, err := alg.token(g.next(), now)
		if err != nil {
			return err
		}
		with, err := verify.Middleware(a, keyset.Keyfunc(alg.keyfunc()), []string{alg.name})
		if err != nil {
			return err
		}
		ver, err := verify.New(keyset.Keyfunc(alg.keyfunc()), []string{alg.name})
		if err != nil {
			return err
		}
		hw, hwo := with(ok), withoutCheck(ver)(ok)
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &statusWriter{h: http.Header{}}
		for _, h := range []http.Handler{hw, hwo} {
			w.code = 0
			h.ServeHTTP(w, req)
			if w.code != http.StatusNoContent {
				return fmt.Errorf("%s: status %d, want 204", alg.name, w.code)
			}
		}
		// Paired: both handlers run in one loop, in an order drawn at
		// random each iteration (strict alternation can fall in step with
		// the garbage collector's period), so machine noise, GC assists and
		// cache warmth hit them alike.
		// Repeated over the plan's rounds; the medians are kept.
		var bad atomic.Int64
		coin := g.r
		var withs, withouts []float64
		iterations := 0
		for range s.plan.rounds {
			var sumWith, sumWithout time.Duration
			br := testing.Benchmark(func(b *testing.B) {
				sumWith, sumWithout = 0, 0
				for i := 0; i < b.N; i++ {
					first, second := hw, hwo
					sf, ss := &sumWith, &sumWithout
					if coin.Uint64()&1 == 1 {
						first, second, sf, ss = hwo, hw, &sumWithout, &sumWith
					}
					w.code = 0
					t0 := time.Now()
					first.ServeHTTP(w, req)
					t1 := time.Now()
					second.ServeHTTP(w, req)
					t2 := time.Now()
					if w.code != http.StatusNoContent {
						bad.Add(1)
					}
					*sf += t1.Sub(t0)
					*ss += t2.Sub(t1)
				}
			})
			if bad.Load() != 0 || br.N == 0 {
				return fmt.Errorf("%s: %d requests refused during the benchmark", alg.name, bad.Load())
			}
			withs = append(withs, float64(sumWith.Nanoseconds())/float64(br.N))
			withouts = append(withouts, float64(sumWithout.Nanoseconds())/float64(br.N))
			iterations += br.N
		}
		nsWith, nsWithout := median(withs), median(withouts)
		allocsWith := testing.AllocsPerRun(200, func() { hw.ServeHTTP(w, req) })
		allocsWithout := testing.AllocsPerRun(200, func() { hwo.ServeHTTP(w, req) })
		row := Row{
			Figure:     fmt.Sprintf("middleware per request, %s (verify + check + context)", alg.name),
			Ours:       Value{Value: nsWith, Unit: "ns/op", Text: fmt.Sprintf("%s, %s allocs", durText(time.Duration(nsWith)), num(allocsWith)), Detail: map[string]float64{"allocs_per_op": allocsWith}},
			Comparison: &Value{Label: "same verification, no revocation check", Value: nsWithout, Unit: "ns/op", Text: fmt.Sprintf("%s, %s allocs", durText(time.Duration(nsWithout)), num(allocsWithout)), Detail: map[string]float64{"allocs_per_op": allocsWithout}},
		}
		x := medianRatio(withs, withouts)
		row.ratio(x, fmt.Sprintf("%s× (%+.0f ns)", num(x), nsWith-nsWithout))
		s.add(row)
		s.log.printf("%s: with check %s, without %s (%d paired iterations in %d rounds)", alg.name, durText(time.Duration(nsWith)), durText(time.Duration(nsWithout)), iterations, s.plan.rounds)
	}
	return s.httpEndToEnd(ctx, a, algs[0], g, now)
}

// httpEndToEnd runs a loopback load generator against an API replica with
// the middleware and against the same server without the check, in ABBA
// order, bounded in requests and time per phase.
func (s *scenarioRun) httpEndToEnd(ctx context.Context, a *agent.Agent, alg signingAlg, g *keyGen, now time.Time) error {
	p := s.plan
	tokens := make([]string, p.httpTokens)
	for i := range tokens {
		t, err := alg.token(g.next(), now)
		if err != nil {
			return err
		}
		tokens[i] = t
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	with, err := verify.Middleware(a, keyset.Keyfunc(alg.keyfunc()), []string{alg.name})
	if err != nil {
		return err
	}
	ver, err := verify.New(keyset.Keyfunc(alg.keyfunc()), []string{alg.name})
	if err != nil {
		return err
	}
	urlWith, err := s.serve(with(api))
	if err != nil {
		return err
	}
	urlWithout, err := s.serve(withoutCheck(ver)(api))
	if err != nil {
		return err
	}
	tr := &http.Transport{
		MaxIdleConns:        2 * p.httpWorkers,
		MaxIdleConnsPerHost: 2 * p.httpWorkers,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, u := range []string{urlWith, urlWithout} { // warm up: connections, caches
		if _, err := loadPhase(ctx, client, u, tokens, p.httpWorkers, min(p.httpRequests/10+50, 2000), p.httpDuration); err != nil {
			return err
		}
	}
	var resWith, resWithout []phaseResult
	var order []string
	for range p.httpRounds {
		order = append(order, urlWith, urlWithout, urlWithout, urlWith)
	}
	for i, u := range order {
		r, err := loadPhase(ctx, client, u, tokens, p.httpWorkers, p.httpRequests, p.httpDuration)
		if err != nil {
			return err
		}
		name := "with"
		if u == urlWith {
			resWith = append(resWith, r)
		} else {
			name = "without"
			resWithout = append(resWithout, r)
		}
		s.log.printf("HTTP phase %d/%d (%s check): %d requests in %.2fs, %s", i+1, len(order), name, r.requests, r.elapsed.Seconds(), rateText(float64(r.requests)/r.elapsed.Seconds()))
	}
	w, wo := mergePhases(resWith), mergePhases(resWithout)
	label := "same server, no revocation check"
	fig := fmt.Sprintf("HTTP end to end, %s, %d keep-alive workers", alg.name, p.httpWorkers)
	row := Row{
		Figure:     fig + ": throughput",
		Ours:       Value{Value: w.rate, Unit: "req/s", Text: rateText(w.rate)},
		Comparison: &Value{Label: label, Value: wo.rate, Unit: "req/s", Text: rateText(wo.rate)},
	}
	row.ratio(w.rate/wo.rate, num(w.rate/wo.rate)+"×")
	s.add(row)
	for _, q := range []struct {
		name string
		f    func(phaseTotals) time.Duration
	}{{"p50", func(t phaseTotals) time.Duration { return t.p50 }}, {"p99", func(t phaseTotals) time.Duration { return t.p99 }}} {
		ours, comp := q.f(w), q.f(wo)
		row := Row{
			Figure:     fig + ": latency " + q.name,
			Ours:       Value{Value: float64(ours.Microseconds()), Unit: "µs", Text: durText(ours)},
			Comparison: &Value{Label: label, Value: float64(comp.Microseconds()), Unit: "µs", Text: durText(comp)},
		}
		row.ratio(float64(ours)/float64(comp), num(float64(ours)/float64(comp))+"×")
		s.add(row)
	}
	s.note("HTTP end to end: the load generator (net/http client, keep-alive) and API replica share this machine's %d cores, so the figures include the client's own cost; phases ran in ABBA order (%d rounds: with, without, without, with), %s requests or %v each, whichever came first; throughput is all requests over all phases' time, latencies over all requests", runtime.NumCPU(), p.httpRounds, countText(p.httpRequests), p.httpDuration)
	return nil
}

// serve starts an HTTP server on a free loopback port, shut down when the
// scenario ends.
func (s *scenarioRun) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.printf("http server: %v", err)
		}
	}()
	s.defer_(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return "http://" + l.Addr().String() + "/api", nil
}

type phaseResult struct {
	requests int
	elapsed  time.Duration
	lat      []time.Duration
}

type phaseTotals struct {
	rate     float64
	p50, p99 time.Duration
}

func mergePhases(rs []phaseResult) phaseTotals {
	var n int
	var el time.Duration
	var lat []time.Duration
	for _, r := range rs {
		n += r.requests
		el += r.elapsed
		lat = append(lat, r.lat...)
	}
	sorted := sortedCopy(lat)
	return phaseTotals{rate: float64(n) / el.Seconds(), p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99)}
}

// loadPhase sends at most maxReq requests, for at most maxDur, from
// workers concurrent clients, each request with the next token; every
// answer must be 200.
func loadPhase(ctx context.Context, client *http.Client, url string, tokens []string, workers, maxReq int, maxDur time.Duration) (phaseResult, error) {
	ctx, cancel := context.WithTimeout(ctx, maxDur)
	defer cancel()
	var issued atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, maxReq/workers+1)
			defer func() { lats[w] = lat }()
			for ctx.Err() == nil {
				i := issued.Add(1)
				if i > int64(maxReq) {
					return
				}
				req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				req.Header.Set("Authorization", "Bearer "+tokens[int(i)%len(tokens)])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // the phase's time is up
					}
					errOnce.Do(func() { firstErr = err })
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					errOnce.Do(func() { firstErr = fmt.Errorf("status %d from %s", resp.StatusCode, url) })
					return
				}
				lat = append(lat, d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return phaseResult{}, firstErr
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return phaseResult{}, errors.New("no request completed")
	}
	return phaseResult{requests: len(all), elapsed: elapsed, lat: all}, nil
}
