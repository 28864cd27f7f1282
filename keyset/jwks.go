package keyset

// Verification keys from JSON Web Key Sets, with key rotation, for the
// middleware's keyfunc.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ErrJWKS is returned by NewJWKS when no key set could be fetched, and
// wrapped by Refresh for each URL that failed.
var ErrJWKS = errors.New("jwtrevoke/keyset: JWKS unavailable")

// JWKS holds the signing keys an issuer publishes as JSON Web Key Sets
// (RFC 7517, the jwks_uri of OpenID Connect discovery) and keeps them
// current as the issuer rotates them. A *JWKS is the Set argument of
// verify.Middleware and verify.New, so key revocations name a key by its kid
// (or, for a key published without one, its RFC 7638 thumbprint):
//
//	jwks, err := keyset.NewJWKS(ctx, []string{"https://id.example.com/.well-known/jwks.json"})
//	defer jwks.Close()
//	mw, err := verify.Middleware(a, jwks, []string{"RS256", "ES256"})
//
// A token's kid header picks its key. The sets are fetched again every
// refresh interval, so a key the issuer removes stops verifying tokens at
// the next refresh (or at once with Refresh), and a token with a kid not
// yet seen makes JWKS fetch the sets again — at most once per unknown-kid
// interval, so tokens with made-up kids cannot flood the issuer. A key
// whose "alg" differs from the token's, or whose "use" is "enc", is
// refused. Keyfunc is the same lookup as a jwt.Keyfunc, for other JWT
// libraries. The keys are parsed and the sets fetched by
// github.com/MicahParks/keyfunc/v3 and github.com/MicahParks/jwkset.
//
// A JWKS is safe for use by multiple goroutines. Keyfunc reads the current
// keys through an atomic pointer and never waits for a refresh; only a
// token with an unknown kid may wait, for one fetch at most.
type JWKS struct {
	cfg        jwksConfig
	urls       []string
	limiter    *rate.Limiter // unknown-kid fetches, shared by every key set built
	client     *http.Client
	ownsClient bool

	kf atomic.Pointer[keyfunc.Keyfunc] // the current keys; swapped by refreshes

	mu     sync.Mutex       // serializes refreshes; guards stores and kids
	stores []jwkset.Storage // per URL, the last set fetched successfully
	kids   []string         // key IDs after the last refresh, for the log

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewJWKS fetches the key sets at urls and starts refreshing them. It
// returns an error wrapping ErrJWKS if none of them could be fetched (a set
// that failed while others succeeded is fetched again at the next refresh,
// or for the first token whose kid is unknown). URLs must be http or https;
// plain http beyond loopback is logged as a warning, since anyone on the
// path could substitute keys. Close stops the refreshing.
func NewJWKS(ctx context.Context, urls []string, opts ...Option) (*JWKS, error) {
	cfg := jwksConfig{
		refresh:    time.Hour,
		unknownKID: 5 * time.Minute,
		maxWait:    2 * time.Second,
		timeout:    10 * time.Second,
		log:        slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no JWKS URL", ErrBadOption)
	}
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("%w: JWKS URL %q is not an http(s) URL", ErrBadOption, u)
		}
		if pu.Scheme == "http" && !isLoopback(pu.Hostname()) {
			cfg.log.Warn("JWKS fetched over plain HTTP: anyone on the path can substitute keys", "url", u)
		}
	}
	j := &JWKS{
		cfg:     cfg,
		urls:    slices.Clone(urls),
		limiter: rate.NewLimiter(rate.Every(cfg.unknownKID), 1),
		client:  cfg.client,
		stores:  make([]jwkset.Storage, len(urls)),
	}
	if j.client == nil {
		j.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		j.ownsClient = true
	}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	failed, err := j.refresh(ctx)
	if failed == len(urls) {
		j.Close()
		return nil, err
	}
	if err != nil {
		cfg.log.Warn("some JWKS URLs could not be fetched; fetching them again at the next refresh or unknown kid", "err", err)
	}
	j.wg.Add(1)
	go j.refreshLoop()
	return j, nil
}

// Keyfunc returns the key that verifies t: the key named by t's kid, or
// every key when t has no kid. It is a jwt.Keyfunc.
func (j *JWKS) Keyfunc(t *jwt.Token) (any, error) {
	return (*j.kf.Load()).Keyfunc(t)
}

// VerificationKeys makes a JWKS a Set: for a token with a kid, the key
// of that kid (fetching the sets again for an unknown kid, as Keyfunc
// does), known by that kid; for a token without one, every signing key
// whose alg allows the token's, each known by its kid or, if it has none,
// its RFC 7638 thumbprint. A kid no set holds is ErrUnknownKey.
func (j *JWKS) VerificationKeys(t *jwt.Token) ([]Key, error) {
	kid, present, err := HeaderKeyID(t)
	if err != nil {
		return nil, err
	}
	kf := *j.kf.Load()
	if present {
		key, err := kf.Keyfunc(t)
		if err != nil {
			if errors.Is(err, jwkset.ErrKeyNotFound) {
				return nil, fmt.Errorf("%w: %q: %v", ErrUnknownKey, kid, err)
			}
			return nil, err
		}
		return []Key{{ID: kid, Key: key}}, nil
	}
	all, err := kf.Storage().KeyReadAll(j.ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	alg, _ := t.Header["alg"].(string)
	var keys []Key
	for _, jwk := range all {
		m := jwk.Marshal()
		if (m.USE != jwkset.UseSig && m.USE != "") || (m.ALG.String() != "" && m.ALG.String() != alg) {
			continue
		}
		key := jwk.Key()
		if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			key = pk.Public()
		}
		id := m.KID
		if id == "" {
			if id, err = Thumbprint(key); err != nil {
				continue // a key type no JWT algorithm here verifies with
			}
		}
		keys = append(keys, Key{ID: id, Key: key})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the key sets hold no key for a token without kid", ErrUnknownKey)
	}
	return keys, nil
}

// KeyIDs returns the key IDs currently held, sorted.
func (j *JWKS) KeyIDs() []string {
	keys, err := (*j.kf.Load()).Storage().KeyReadAll(j.ctx)
	if err != nil {
		return nil
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.Marshal().KID)
	}
	slices.Sort(kids)
	return kids
}

// Refresh fetches every key set now, as after the issuer removed a
// compromised key. A set that cannot be fetched keeps its previous keys;
// the error wraps ErrJWKS and names each URL that failed.
func (j *JWKS) Refresh(ctx context.Context) error {
	_, err := j.refresh(ctx)
	return err
}

// refresh is Refresh, also returning how many URLs failed.
func (j *JWKS) refresh(ctx context.Context) (failed int, _ error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for i, u := range j.urls {
		if err := j.fetchLocked(ctx, i, u); err != nil {
			failed++
			errs = append(errs, err)
		}
	}
	httpURLs := make(map[string]jwkset.Storage, len(j.urls))
	for i, u := range j.urls {
		if j.stores[i] != nil {
			httpURLs[u] = j.stores[i]
		}
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          httpURLs,
		RateLimitWaitMax:  j.cfg.maxWait,
		RefreshUnknownKID: j.limiter,
	})
	if err != nil {
		return len(j.urls), fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:          j.ctx,
		Storage:      client,
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		return len(j.urls), fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	j.kf.Store(&kf)
	j.logRotationLocked()
	return failed, errors.Join(errs...)
}

// fetchLocked fetches the key set at u, the i-th URL, into j.stores[i].
// A failed fetch keeps the keys fetched before, if any.
func (j *JWKS) fetchLocked(ctx context.Context, i int, u string) error {
	var first error
	var building atomic.Bool
	building.Store(true)
	st, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:      j.client,
		Ctx:         ctx,
		HTTPTimeout: j.cfg.timeout,
		// Return a storage even when this fetch fails, so that the first
		// unknown kid can fill it; the handler gets the error.
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(_ context.Context, err error) {
			if building.Load() {
				first = err
				return
			}
			j.cfg.log.Warn("fetching JWKS for an unknown kid", "url", u, "err", err)
		},
	})
	building.Store(false)
	if err == nil {
		err = first
	}
	switch {
	case err == nil:
		j.stores[i] = st
		return nil
	case j.stores[i] == nil:
		if st != nil {
			j.stores[i] = st // empty, but fetched again for an unknown kid
		}
		return fmt.Errorf("%w: %s: %v", ErrJWKS, u, err)
	}
	return fmt.Errorf("%w: %s: %v (keeping the keys fetched before)", ErrJWKS, u, err)
}

// logRotationLocked logs the key IDs added and removed since the last
// refresh.
func (j *JWKS) logRotationLocked() {
	kids := j.KeyIDs()
	if kids == nil {
		kids = []string{}
	}
	var added, removed []string
	for _, k := range kids {
		if !slices.Contains(j.kids, k) {
			added = append(added, k)
		}
	}
	for _, k := range j.kids {
		if !slices.Contains(kids, k) {
			removed = append(removed, k)
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		j.cfg.log.Info("JWKS keys changed", "added", added, "removed", removed, "keys", len(kids))
	}
	j.kids = kids
}

func (j *JWKS) refreshLoop() {
	defer j.wg.Done()
	t := time.NewTicker(j.cfg.refresh)
	defer t.Stop()
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-t.C:
		}
		if err := j.Refresh(j.ctx); err != nil && j.ctx.Err() == nil {
			j.cfg.log.Warn("refreshing JWKS", "err", err)
		}
	}
}

// Close stops the refreshing and waits for it. Keyfunc keeps answering
// from the keys last fetched, and never fetches again.
func (j *JWKS) Close() error {
	j.cancel()
	j.wg.Wait()
	if j.ownsClient {
		j.client.CloseIdleConnections()
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
