package keyset_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// issuer publishes a JWKS whose keys a test rotates.
type issuer struct {
	srv     *httptest.Server
	fetches atomic.Int64

	mu        sync.Mutex // guards the fields below
	keys      map[string]*ecdsa.PrivateKey
	use       map[string]jwkset.USE
	published []string
	status    int
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]*ecdsa.PrivateKey{}, use: map[string]jwkset.USE{}, status: http.StatusOK}
	is.srv = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) serve(w http.ResponseWriter, r *http.Request) {
	is.fetches.Add(1)
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.status != http.StatusOK {
		w.WriteHeader(is.status)
		return
	}
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, kid := range is.published {
		use := is.use[kid]
		if use == "" {
			use = jwkset.UseSig
		}
		k, err := jwkset.NewJWKFromKey(&is.keys[kid].PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256, USE: use},
		})
		if err != nil {
			panic(err)
		}
		set.Keys = append(set.Keys, k.Marshal())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(set)
}

// publish makes the JWKS hold exactly kids, creating keys as needed.
func (is *issuer) publish(kids ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, kid := range kids {
		if is.keys[kid] == nil {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			is.keys[kid] = k
		}
	}
	is.published = slices.Clone(kids)
}

// sign mints an ES256 token with kid, whose key need not be published.
func (is *issuer) sign(t *testing.T, kid string) string {
	t.Helper()
	is.mu.Lock()
	key := is.keys[kid]
	is.mu.Unlock()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": "j-" + kid, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJWKS(t *testing.T, urls []string, opts ...keyset.Option) *keyset.JWKS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	j, err := keyset.NewJWKS(ctx, urls, opts...)
	if err != nil {
		t.Fatalf("NewJWKS(%v) = %v", urls, err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func verifier(t *testing.T, j *keyset.JWKS) *verify.Verifier {
	t.Helper()
	v, err := verify.New(j, []string{"ES256"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantVerified(t *testing.T, v *verify.Verifier, tok, what string, ok bool) {
	t.Helper()
	_, _, aerr := v.Verify(tok)
	switch {
	case ok && aerr != nil:
		t.Errorf("%s: Verify = %v, want verified", what, aerr)
	case !ok && aerr == nil:
		t.Errorf("%s: Verify = verified, want refused", what)
	case !ok && verify.AsError(aerr).Reason != jwtrevoke.ReasonInvalid:
		t.Errorf("%s: Verify reason = %q, want %q", what, verify.AsError(aerr).Reason, jwtrevoke.ReasonInvalid)
	}
}

// TestJWKSRotation rotates the issuer's key from kid a to kid b: b is
// accepted as soon as a token carries it, a is refused once the issuer
// drops it, and made-up kids cannot make JWKS fetch the set again and
// again.
func TestJWKSRotation(t *testing.T) {
	is := newIssuer(t)
	is.publish("a")
	j := newJWKS(t, []string{is.srv.URL}, keyset.WithUnknownKID(time.Hour, time.Second))
	v := verifier(t, j)
	if got := j.KeyIDs(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("KeyIDs() = %v, want [a]", got)
	}
	tokA := is.sign(t, "a")
	wantVerified(t, v, tokA, "token of kid a", true)

	// The issuer adds b and starts signing with it: the first token with
	// kid b makes JWKS fetch the set again.
	is.publish("a", "b")
	tokB := is.sign(t, "b")
	before := is.fetches.Load()
	wantVerified(t, v, tokB, "token of the new kid b", true)
	if got := is.fetches.Load() - before; got != 1 {
		t.Errorf("fetches for the unknown kid b = %d, want 1", got)
	}
	wantVerified(t, v, tokA, "token of kid a while both are published", true)

	// The issuer drops a (rotated out, or compromised).
	is.publish("b")
	if err := j.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh() = %v", err)
	}
	if got := j.KeyIDs(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("KeyIDs() after a was dropped = %v, want [b]", got)
	}
	wantVerified(t, v, tokA, "token of the dropped kid a", false)
	wantVerified(t, v, tokB, "token of kid b", true)

	// Unknown kids are refused without a fetch each: the one refetch the
	// rate allows per hour went to b.
	before = is.fetches.Load()
	for i := range 5 {
		wantVerified(t, v, is.sign(t, fmt.Sprintf("forged-%d", i)), "token of a made-up kid", false)
	}
	if got := is.fetches.Load() - before; got != 0 {
		t.Errorf("fetches for 5 made-up kids = %d, want 0 (rate limited)", got)
	}
}

// TestJWKSPeriodicRefresh drops a key at the issuer and waits for the
// refresh interval to notice, with no Refresh call and no unknown kid.
func TestJWKSPeriodicRefresh(t *testing.T) {
	is := newIssuer(t)
	is.publish("a", "b")
	j := newJWKS(t, []string{is.srv.URL}, keyset.WithRefresh(20*time.Millisecond))
	v := verifier(t, j)
	tokA := is.sign(t, "a")
	wantVerified(t, v, tokA, "token of kid a", true)
	is.publish("b")
	testkit.Eventually(t, "a refresh drops a from KeyIDs()", func() bool { return !slices.Contains(j.KeyIDs(), "a") })
	wantVerified(t, v, tokA, "token of the dropped kid a", false)
}

// TestJWKSKeyUse refuses a key published for encryption.
func TestJWKSKeyUse(t *testing.T) {
	is := newIssuer(t)
	is.publish("sig", "enc")
	is.mu.Lock()
	is.use["enc"] = jwkset.UseEnc
	is.mu.Unlock()
	j := newJWKS(t, []string{is.srv.URL})
	v := verifier(t, j)
	wantVerified(t, v, is.sign(t, "sig"), `token of a "use":"sig" key`, true)
	wantVerified(t, v, is.sign(t, "enc"), `token of a "use":"enc" key`, false)
}

// TestJWKSFailures: one set unavailable among several is tolerated and
// keeps its keys across failed refreshes; none available is an error.
func TestJWKSFailures(t *testing.T) {
	good, bad := newIssuer(t), newIssuer(t)
	good.publish("g")
	bad.publish("x")
	bad.mu.Lock()
	bad.status = http.StatusInternalServerError
	bad.mu.Unlock()

	ctx := context.Background()
	if _, err := keyset.NewJWKS(ctx, []string{bad.srv.URL}); !errors.Is(err, keyset.ErrJWKS) {
		t.Errorf("NewJWKS(unavailable set) = %v, want %v", err, keyset.ErrJWKS)
	}

	j := newJWKS(t, []string{good.srv.URL, bad.srv.URL})
	v := verifier(t, j)
	tokG := good.sign(t, "g")
	wantVerified(t, v, tokG, "token of the available set", true)

	good.mu.Lock()
	good.status = http.StatusServiceUnavailable
	good.mu.Unlock()
	if err := j.Refresh(ctx); !errors.Is(err, keyset.ErrJWKS) {
		t.Errorf("Refresh() with both sets down = %v, want %v", err, keyset.ErrJWKS)
	}
	wantVerified(t, v, tokG, "token of a set that is down now: its keys are kept", true)
}

func TestNewJWKSOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		urls []string
		opts []keyset.Option
	}{
		{"no URL", nil, nil},
		{"not http", []string{"file:///etc/jwks.json"}, nil},
		{"no host", []string{"https:///jwks.json"}, nil},
		{"zero refresh", []string{"https://id.example/jwks.json"}, []keyset.Option{keyset.WithRefresh(0)}},
		{"zero unknown kid wait", []string{"https://id.example/jwks.json"}, []keyset.Option{keyset.WithUnknownKID(time.Minute, 0)}},
		{"zero timeout", []string{"https://id.example/jwks.json"}, []keyset.Option{keyset.WithTimeout(0)}},
		{"nil client", []string{"https://id.example/jwks.json"}, []keyset.Option{keyset.WithHTTPClient(nil)}},
		{"nil logger", []string{"https://id.example/jwks.json"}, []keyset.Option{keyset.WithLogger(nil)}},
	} {
		if _, err := keyset.NewJWKS(ctx, tc.urls, tc.opts...); !errors.Is(err, keyset.ErrBadOption) {
			t.Errorf("%s: NewJWKS = %v, want %v", tc.name, err, keyset.ErrBadOption)
		}
	}
}

func TestJWKSCloseLeavesNoGoroutines(t *testing.T) {
	is := newIssuer(t)
	is.publish("a")
	baseline := testkit.Goroutines()
	j, err := keyset.NewJWKS(context.Background(), []string{is.srv.URL}, keyset.WithRefresh(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// A few refreshes, so that Close stops a loop that has run.
	testkit.Eventually(t, "three refreshes", func() bool { return is.fetches.Load() >= 4 }) // the first fetch is New's
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	is.srv.CloseClientConnections()
	testkit.NoNewGoroutines(t, baseline, testkit.Patience, "nats-io/nats-server/")
	// Keyfunc still answers from the last keys.
	if _, err := j.Keyfunc(mustParseUnverified(t, is.sign(t, "a"))); err != nil {
		t.Errorf("Keyfunc after Close = %v, want the last key", err)
	}
}

func mustParseUnverified(t *testing.T, s string) *jwt.Token {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ExampleNewJWKS() {
	// An identity provider's JWKS endpoint (here a test server with one
	// ES256 key).
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "2026-01", ALG: jwkset.AlgES256, USE: jwkset.UseSig},
	})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	}))
	defer idp.Close()

	jwks, err := keyset.NewJWKS(context.Background(), []string{idp.URL})
	if err != nil {
		panic(err)
	}
	defer jwks.Close()
	// A *JWKS is the key set argument of verify.Middleware.
	v, err := verify.New(jwks, []string{"ES256"})
	if err != nil {
		panic(err)
	}

	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": "t-1", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "2026-01"
	raw, _ := tok.SignedString(key)
	_, t, aerr := v.Verify(raw)
	fmt.Println(jwks.KeyIDs(), t.KeyID, aerr == nil)
	// Output: [2026-01] 2026-01 true
}
