package verify_test

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
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// BenchmarkMiddleware compares, per algorithm, the middleware with the
// revocation check against the same golang-jwt verification without it,
// in one run:
//
//	go test -run '^$' -bench Middleware -benchmem ./verify
//
// The agent holds 100k revoked jtis; the request's token is not revoked.
func BenchmarkMiddleware(b *testing.B) {
	s := testkit.NATS(b, "")
	pub := testkit.NewPublisher(b, testkit.Connect(b, s.ClientURL()))
	revs := make([]jwtrevoke.Revocation, 100_000)
	now := time.Now()
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("revoked-%d", i), Before: now, Expires: now.Add(30 * time.Minute)}
	}
	if _, err := pub.RevokeBatch(context.Background(), revs); err != nil {
		b.Fatal(err)
	}
	a := testkit.NewAgent(b, testkit.Connect(b, s.ClientURL()))
	testkit.Eventually(b, "agent applied the batch", func() bool { return a.Stats().EventsApplied >= uint64(len(revs)) })

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	algs := []struct {
		name   string
		method jwt.SigningMethod
		sign   any
		verify any
	}{
		{"HS256", jwt.SigningMethodHS256, testkit.HMACKey, testkit.HMACKey},
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
		with, err := verify.Middleware(a, keyset.Keyfunc(keyfunc), []string{alg.method.Alg()})
		if err != nil {
			b.Fatal(err)
		}
		// The same verification and hand-off of the claims in the request
		// context, without the revocation check.
		parser := jwt.NewParser(jwt.WithValidMethods([]string{alg.method.Alg()}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second), jwt.WithIssuedAt())
		without := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw, _ := verify.BearerToken(r)
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

// statusWriter is a reusable ResponseWriter that keeps only the status.
type statusWriter struct {
	code int
	h    http.Header
}

func (w *statusWriter) Header() http.Header         { return w.h }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(code int)        { w.code = code }

type benchKey struct{}
