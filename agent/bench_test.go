package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
)

// BenchmarkMiddleware compares, per algorithm, the middleware with the
// revocation check against the same golang-jwt verification without it,
// in one run:
//
//	go test -run '^$' -bench Middleware -benchmem ./agent
//
// The agent holds 100k revoked jtis; the request's token is not revoked.
func BenchmarkMiddleware(b *testing.B) {
	s := natsserver.Run(b, "")
	pub := newPublisher(b, connect(b, s.ClientURL()))
	revs := make([]jwtrevoke.Revocation, 100_000)
	now := time.Now()
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("revoked-%d", i), Before: now, Expires: now.Add(30 * time.Minute)}
	}
	if _, err := pub.RevokeBatch(context.Background(), revs); err != nil {
		b.Fatal(err)
	}
	a := newAgent(b, connect(b, s.ClientURL()))
	eventually(b, "agent applied the batch", func() bool { return a.Stats().EventsApplied >= uint64(len(revs)) })

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	algs := []struct {
		name   string
		method jwt.SigningMethod
		sign   any
		verify any
	}{
		{"HS256", jwt.SigningMethodHS256, hmacKey, hmacKey},
		{"ES256", jwt.SigningMethodES256, ecKey, &ecKey.PublicKey},
		{"RS256", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, edPriv, edPub},
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	for _, alg := range algs {
		tok, err := jwt.NewWithClaims(alg.method, jwt.MapClaims{
			"jti": "live-token", "sub": "alice", "sid": "s-1", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(alg.sign)
		if err != nil {
			b.Fatal(err)
		}
		keyfunc := func(*jwt.Token) (any, error) { return alg.verify, nil }
		with, err := agent.Middleware(a, agent.Keyfunc(keyfunc), []string{alg.method.Alg()})
		if err != nil {
			b.Fatal(err)
		}
		// The same verification and hand-off of the claims in the request
		// context, without the revocation check.
		parser := jwt.NewParser(jwt.WithValidMethods([]string{alg.method.Alg()}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second), jwt.WithIssuedAt())
		without := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw, _ := agent.BearerToken(r)
				t, err := parser.ParseWithClaims(raw, jwt.MapClaims{}, keyfunc)
				if err != nil {
					w.WriteHeader(401)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), benchKey{}, t)))
			})
		}
		// Paired: both variants alternate in one loop, so machine noise
		// hits them alike; the overhead is reported as a percentage.
		b.Run(alg.name+"/paired", func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := &statusWriter{h: http.Header{}}
			hw, hwo := with(ok), without(ok)
			var sumWith, sumWithout time.Duration
			first, second := hwo, hw
			sumFirst, sumSecond := &sumWithout, &sumWith
			for b.Loop() {
				// Swap the order every iteration: whichever runs second
				// finds warmer caches.
				first, second = second, first
				sumFirst, sumSecond = sumSecond, sumFirst
				t0 := time.Now()
				first.ServeHTTP(w, req)
				t1 := time.Now()
				second.ServeHTTP(w, req)
				t2 := time.Now()
				if w.code != 204 {
					b.Fatalf("status %d", w.code)
				}
				*sumFirst += t1.Sub(t0)
				*sumSecond += t2.Sub(t1)
			}
			b.ReportMetric(float64(sumWithout.Nanoseconds())/float64(b.N), "without-ns/op")
			b.ReportMetric(float64(sumWith.Nanoseconds())/float64(b.N), "with-ns/op")
			b.ReportMetric(100*float64(sumWith-sumWithout)/float64(sumWithout), "overhead-%")
		})
		for _, c := range []struct {
			name string
			h    http.Handler
		}{{"without-check", without(ok)}, {"with-check", with(ok)}} {
			b.Run(alg.name+"/"+c.name, func(b *testing.B) {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				w := &statusWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					w.code = 0
					c.h.ServeHTTP(w, req)
					if w.code != 204 {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}

// BenchmarkCheck is the agent's check alone, for a token that is not
// revoked and one that is, with 100k live revocations.
func BenchmarkCheck(b *testing.B) {
	s := natsserver.Run(b, "")
	pub := newPublisher(b, connect(b, s.ClientURL()))
	a := newAgent(b, connect(b, s.ClientURL()))
	revs := make([]jwtrevoke.Revocation, 100_000)
	now := time.Now()
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("revoked-%d", i), Before: now, Expires: now.Add(30 * time.Minute)}
	}
	if _, err := pub.RevokeBatch(context.Background(), revs); err != nil {
		b.Fatal(err)
	}
	eventually(b, "agent applied the batch", func() bool { return a.Stats().EventsApplied >= uint64(len(revs)) })
	clean := jwtrevoke.Token{JTI: "live-token", Subject: "alice", Session: "s-1", KeyID: "k1", IssuedAt: now}
	revoked := jwtrevoke.Token{JTI: "revoked-7", Subject: "alice", IssuedAt: now}
	for _, c := range []struct {
		name string
		tok  *jwtrevoke.Token
		want filter.Verdict
	}{{"not-revoked", &clean, filter.NotRevoked}, {"revoked", &revoked, filter.Revoked}} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := a.Check(c.tok); r.Verdict != c.want {
					b.Fatalf("Check = %+v", r)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := a.Check(c.tok); r.Verdict != c.want {
						b.Errorf("Check = %+v", r)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPropagation measures publish → applied at 3 agents over 1,000
// revocations, beside a raw core-NATS publish → received by 3 subscribers
// in the same run, and reports p50/p99/max of each:
//
//	go test -run '^$' -bench Propagation -benchtime 1x ./agent
func BenchmarkPropagation(b *testing.B) {
	const n, agents = 1000, 3
	s := natsserver.Run(b, "")
	for b.Loop() {
		pub := newPublisher(b, connect(b, s.ClientURL()))
		applied := make(chan string, agents*4)
		for range agents {
			newAgent(b, connect(b, s.ClientURL()), agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) { applied <- r.Key }))
		}
		ctx := context.Background()
		lat := make([]time.Duration, 0, n)
		for i := range n {
			tok := jwtrevoke.Token{JTI: fmt.Sprintf("prop-%d", i)}
			start := time.Now()
			if _, err := pub.RevokeJTI(ctx, tok.JTI, time.Now().Add(10*time.Minute)); err != nil {
				b.Fatal(err)
			}
			for range agents {
				select {
				case key := <-applied:
					if key != tok.JTI {
						b.Fatalf("applied %q, want %q", key, tok.JTI)
					}
				case <-time.After(5 * time.Second):
					b.Fatalf("revocation %d not applied after 5s", i)
				}
			}
			lat = append(lat, time.Since(start))
		}
		// Raw core NATS: one publisher, three subscribers on their own
		// connections, publish → all three received.
		subj := "bench.raw"
		got := make(chan struct{}, agents*4)
		for range agents {
			nc := connect(b, s.ClientURL())
			if _, err := nc.Subscribe(subj, func(*nats.Msg) { got <- struct{}{} }); err != nil {
				b.Fatal(err)
			}
			nc.Flush()
		}
		pnc := connect(b, s.ClientURL())
		raw := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			if err := pnc.Publish(subj, []byte("0123456789abcdef0123456789abcdef0123")); err != nil {
				b.Fatal(err)
			}
			for range agents {
				select {
				case <-got:
				case <-time.After(5 * time.Second):
					b.Fatal("raw message lost")
				}
			}
			raw = append(raw, time.Since(start))
		}
		q := func(d []time.Duration, p float64) float64 {
			s := slices.Clone(d)
			slices.Sort(s)
			return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds())
		}
		b.ReportMetric(q(lat, 0.5), "p50-µs")
		b.ReportMetric(q(lat, 0.99), "p99-µs")
		b.ReportMetric(q(lat, 1), "max-µs")
		b.ReportMetric(q(raw, 0.5), "raw-p50-µs")
		b.ReportMetric(q(raw, 0.99), "raw-p99-µs")
		b.ReportMetric(q(raw, 1), "raw-max-µs")
		b.ReportMetric(q(lat, 0.99)-q(raw, 0.99), "p99-over-raw-µs")
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

type benchKey struct{}
