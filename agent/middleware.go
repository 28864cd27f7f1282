package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
)

// Reasons a request is refused by the middleware, as carried by AuthError.
const (
	ReasonMissing   = "missing"   // no token in the request
	ReasonMalformed = "malformed" // not a JWT, or oversized
	ReasonExpired   = "expired"   // exp passed, or nbf not yet reached
	ReasonInvalid   = "invalid"   // bad signature, algorithm, issuer or audience
	ReasonNoJTI     = "no_jti"    // no jti: such a token could never be revoked
	ReasonRevoked   = "revoked"   // a live revocation matches
	ReasonUnknown   = "unknown"   // could not settle, refused by policy
	ReasonStale     = "stale"     // the agent has not heard the log, refused by policy
	ReasonNotReady  = "not_ready" // the agent is still replaying, refused by policy
)

// AuthError is the error the middleware passes to its ErrorHandler.
type AuthError struct {
	Reason string // one of the Reason… constants
	Err    error  // the underlying error, if any
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return "jwtrevoke: " + e.Reason + ": " + e.Err.Error()
	}
	return "jwtrevoke: " + e.Reason
}

func (e *AuthError) Unwrap() error { return e.Err }

// Description is a short human text for the reason, safe to show clients.
func (e *AuthError) Description() string {
	switch e.Reason {
	case ReasonMissing:
		return "no bearer token"
	case ReasonMalformed:
		return "the token is malformed"
	case ReasonExpired:
		return "the token is expired or not yet valid"
	case ReasonNoJTI:
		return "the token has no jti claim"
	case ReasonRevoked:
		return "the token has been revoked"
	case ReasonUnknown, ReasonStale, ReasonNotReady:
		return "the token's revocation status cannot be confirmed"
	}
	return "the token is invalid"
}

// ErrorHandler writes the response for a refused request.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err *AuthError)

// DefaultErrorHandler answers 401 with an RFC 6750 WWW-Authenticate header
// and a small JSON body: {"error":"invalid_token","error_description":…,
// "reason":…}. A request without a token gets the bare challenge, as RFC
// 6750 asks.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, err *AuthError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	body := map[string]string{"error": "invalid_token", "error_description": err.Description(), "reason": err.Reason}
	if err.Reason == ReasonMissing {
		h.Set("WWW-Authenticate", `Bearer`)
		body["error"] = "unauthorized"
	} else {
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, err.Description()))
	}
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(body)
}

// TokenExtractor returns the raw token of a request, "" if it has none.
type TokenExtractor func(r *http.Request) (string, error)

// BearerToken extracts the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("authorization header is not Bearer")
	}
	return strings.TrimSpace(tok), nil
}

// CookieToken extracts the token from the named cookie.
func CookieToken(name string) TokenExtractor {
	return func(r *http.Request) (string, error) {
		c, err := r.Cookie(name)
		if errors.Is(err, http.ErrNoCookie) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return c.Value, nil
	}
}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*mwConfig) error

type mwConfig struct {
	issuer    string
	audience  []string
	leeway    time.Duration
	extractor TokenExtractor
	onError   ErrorHandler
	newClaims func() jwt.Claims
	maxToken  int
	now       func() time.Time
	crit      []string // header parameters the application understands in crit
}

// WithIssuer requires the iss claim to equal iss. The default does not
// check it.
func WithIssuer(iss string) MiddlewareOption {
	return func(c *mwConfig) error { c.issuer = iss; return nil }
}

// WithAudience requires the aud claim to contain one of aud. The default
// does not check it.
func WithAudience(aud ...string) MiddlewareOption {
	return func(c *mwConfig) error { c.audience = aud; return nil }
}

// WithLeeway sets the clock leeway for exp, nbf and iat. The default is
// 30 seconds.
func WithLeeway(d time.Duration) MiddlewareOption {
	return func(c *mwConfig) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("%w: leeway %v outside 0..5m", ErrBadOption, d)
		}
		c.leeway = d
		return nil
	}
}

// WithExtractor sets where the token comes from. The default is
// BearerToken.
func WithExtractor(e TokenExtractor) MiddlewareOption {
	return func(c *mwConfig) error {
		if e == nil {
			return fmt.Errorf("%w: nil extractor", ErrBadOption)
		}
		c.extractor = e
		return nil
	}
}

// WithErrorHandler replaces DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) MiddlewareOption {
	return func(c *mwConfig) error {
		if h == nil {
			return fmt.Errorf("%w: nil error handler", ErrBadOption)
		}
		c.onError = h
		return nil
	}
}

// WithClaims sets the claims type tokens are parsed into: new returns a
// fresh pointer per request (for example func() jwt.Claims { return
// new(MyClaims) }). The default is jwt.MapClaims.
func WithClaims(new func() jwt.Claims) MiddlewareOption {
	return func(c *mwConfig) error {
		if new == nil {
			return fmt.Errorf("%w: nil claims constructor", ErrBadOption)
		}
		c.newClaims = new
		return nil
	}
}

// WithTimeFunc sets the clock for exp, nbf and iat. The default is the
// agent's clock for Middleware and time.Now for NewVerifier.
func WithTimeFunc(now func() time.Time) MiddlewareOption {
	return func(c *mwConfig) error {
		if now == nil {
			return fmt.Errorf("%w: nil time func", ErrBadOption)
		}
		c.now = now
		return nil
	}
}

// WithCriticalHeaders names the JWS header parameters this application
// understands and processes itself, so that a token listing them in its
// crit header (RFC 7515 §4.1.11) is accepted. A token whose crit lists
// anything else is refused. The default understands none: a token with a
// crit header is refused.
func WithCriticalHeaders(names ...string) MiddlewareOption {
	return func(c *mwConfig) error {
		for _, n := range names {
			if n == "" || registeredHeaders[n] {
				return fmt.Errorf("%w: %q cannot be a critical header extension", ErrBadOption, n)
			}
		}
		c.crit = slices.Clone(names)
		return nil
	}
}

// WithMaxTokenSize refuses tokens longer than n bytes before parsing them.
// The default is 8 KiB.
func WithMaxTokenSize(n int) MiddlewareOption {
	return func(c *mwConfig) error {
		if n < 64 {
			return fmt.Errorf("%w: max token size %d", ErrBadOption, n)
		}
		c.maxToken = n
		return nil
	}
}

// Middleware returns net/http middleware that verifies the request's JWT
// with keys, accepting only the signing algorithms algs, requires exp and
// jti, asks the agent whether the token may be used, and passes the claims
// to the next handler in the request context (see ClaimsFromContext). A
// refused request gets the ErrorHandler.
//
// keys says which keys may verify a token and what each is called; a key
// revocation is checked against the name of the key that verified it (see
// KeySet). Use NewKeys for fixed keys, a *JWKS for an issuer's key sets, or
// Keyfunc to adapt a jwt.Keyfunc (which protects key revocations only if it
// picks keys strictly by kid).
//
// algs may not include "none", nor mix HMAC algorithms with public-key ones
// (a key confusion waiting to happen).
func Middleware(a *Agent, keys KeySet, algs []string, opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: Middleware needs an agent", ErrBadOption)
	}
	v, err := NewVerifier(keys, algs, append([]MiddlewareOption{WithTimeFunc(a.cfg.clock)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ver, aerr := v.verifyRequest(a, r)
			if aerr != nil {
				v.cfg.onError(w, r, aerr)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ver)))
		})
	}, nil
}

// Verifier checks a JWT's signature and claims, not its revocation: the
// first half of what Middleware does, for endpoints that need a verified
// token without refusing revoked ones (RFC 7009 revocation, RFC 7662
// introspection, logout). A Verifier is safe for use by multiple
// goroutines.
type Verifier struct {
	cfg       mwConfig
	parser    *jwt.Parser // only decodes; the checks are Verify's
	validator *jwt.Validator
	algs      []string
	keys      KeySet
}

// NewVerifier returns a Verifier; its arguments mean what Middleware's do.
// Of the options, WithExtractor and WithErrorHandler only matter to
// Middleware.
func NewVerifier(keys KeySet, algs []string, opts ...MiddlewareOption) (*Verifier, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: a key set is required", ErrBadOption)
	}
	if err := checkAlgs(algs); err != nil {
		return nil, err
	}
	cfg := mwConfig{
		leeway:    30 * time.Second,
		extractor: BearerToken,
		onError:   DefaultErrorHandler,
		newClaims: func() jwt.Claims { return jwt.MapClaims{} },
		maxToken:  8 << 10,
		now:       time.Now,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	vopts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.now),
	}
	if cfg.issuer != "" {
		vopts = append(vopts, jwt.WithIssuer(cfg.issuer))
	}
	if len(cfg.audience) > 0 {
		vopts = append(vopts, jwt.WithAudience(cfg.audience...))
	}
	return &Verifier{
		cfg:       cfg,
		parser:    jwt.NewParser(),
		validator: jwt.NewValidator(vopts...),
		algs:      slices.Clone(algs),
		keys:      keys,
	}, nil
}

// Verify parses and verifies a raw JWT: its header (alg among the allowed,
// kid a string, crit understood), its signature with the keys its KeySet
// gives, and its claims. The Token it returns carries, as KeyID, the
// identity of the key that verified the signature. A token without jti is
// refused (ReasonNoJTI): it could never be revoked. A jti, sub, sid or kid
// that is present but not a non-empty string is malformed.
func (v *Verifier) Verify(raw string) (*jwt.Token, jwtrevoke.Token, *AuthError) {
	if raw == "" {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMissing}
	}
	if len(raw) > v.cfg.maxToken {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMalformed, Err: fmt.Errorf("token of %d bytes exceeds %d", len(raw), v.cfg.maxToken)}
	}
	if strings.Count(raw, ".") != 2 {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMalformed, Err: errors.New("a JWT has three dot-separated parts")}
	}
	claims := v.cfg.newClaims()
	tok, parts, err := v.parser.ParseUnverified(raw, claims)
	if err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: parseReason(err), Err: err}
	}
	if _, _, err := headerKID(tok); err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMalformed, Err: err}
	}
	if err := v.checkCrit(tok.Header); err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonInvalid, Err: err}
	}
	if alg := tok.Method.Alg(); !slices.Contains(v.algs, alg) {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonInvalid, Err: fmt.Errorf("%w: signing method %s is not allowed", jwt.ErrTokenSignatureInvalid, alg)}
	}
	keys, err := v.keys.VerificationKeys(tok)
	if err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonInvalid, Err: fmt.Errorf("%w: %w", jwt.ErrTokenUnverifiable, err)}
	}
	// The signing input is the raw token up to its last dot (header.payload),
	// sliced rather than joined again.
	signed := raw[:len(parts[0])+1+len(parts[1])]
	var key *Key
	var lastErr error
	for i := range keys {
		if lastErr = tok.Method.Verify(signed, tok.Signature, keys[i].Key); lastErr == nil {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		err := fmt.Errorf("%w: no key to try", jwt.ErrTokenSignatureInvalid)
		if lastErr != nil {
			err = fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, lastErr)
		}
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonInvalid, Err: err}
	}
	if err := v.validator.Validate(claims); err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: parseReason(err), Err: fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err)}
	}
	tok.Valid = true
	t, err := jwtrevoke.FromClaims(claims, key.ID)
	if err != nil {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMalformed, Err: err}
	}
	if t.JTI == "" {
		return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonNoJTI}
	}
	// A key longer than the wire format carries could never be revoked.
	for _, k := range [...]string{t.JTI, t.Subject, t.Session, t.KeyID} {
		if len(k) > jwtrevoke.MaxKeyLen {
			return nil, jwtrevoke.Token{}, &AuthError{Reason: ReasonMalformed, Err: fmt.Errorf("a jti, sub, sid or key ID of %d bytes exceeds the %d a revocation can name", len(k), jwtrevoke.MaxKeyLen)}
		}
	}
	return tok, t, nil
}

// registeredHeaders are the header parameters RFC 7515 §4.1 registers:
// crit may not list them.
var registeredHeaders = map[string]bool{
	"alg": true, "jku": true, "jwk": true, "kid": true, "x5u": true, "x5c": true,
	"x5t": true, "x5t#S256": true, "typ": true, "cty": true, "crit": true,
}

// checkCrit applies RFC 7515 §4.1.11: crit, when present, is a non-empty
// array of header parameter names, each present in the header, none
// registered by JWS, and each understood by this verifier.
func (v *Verifier) checkCrit(h map[string]any) error {
	c, ok := h["crit"]
	if !ok {
		return nil
	}
	list, ok := c.([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("%w: the crit header is not a non-empty array", jwt.ErrTokenUnverifiable)
	}
	for _, e := range list {
		name, ok := e.(string)
		switch {
		case !ok || name == "":
			return fmt.Errorf("%w: the crit header lists %v, not a header name", jwt.ErrTokenUnverifiable, e)
		case registeredHeaders[name]:
			return fmt.Errorf("%w: the crit header lists %q, which JWS defines", jwt.ErrTokenUnverifiable, name)
		case !slices.Contains(v.cfg.crit, name):
			return fmt.Errorf("%w: the crit header lists %q, an extension this verifier does not understand", jwt.ErrTokenUnverifiable, name)
		}
		if _, present := h[name]; !present {
			return fmt.Errorf("%w: the crit header lists %q, which the header does not carry", jwt.ErrTokenUnverifiable, name)
		}
	}
	return nil
}

// verifyRequest extracts, verifies and checks the request's token.
func (v *Verifier) verifyRequest(a *Agent, r *http.Request) (*Verified, *AuthError) {
	raw, err := v.cfg.extractor(r)
	if err != nil {
		return nil, &AuthError{Reason: ReasonMalformed, Err: err}
	}
	tok, t, aerr := v.Verify(raw)
	if aerr != nil {
		return nil, aerr
	}
	res := a.Check(&t)
	if !res.Allowed {
		return nil, &AuthError{Reason: resultReason(res)}
	}
	return &Verified{JWT: tok, Claims: tok.Claims, Token: t, Result: res}, nil
}

// resultReason maps a refused Result to the middleware's reason.
func resultReason(res Result) string {
	switch res.Reason() {
	case "revoked":
		return ReasonRevoked
	case "unknown":
		return ReasonUnknown
	case "not_ready":
		return ReasonNotReady
	}
	return ReasonStale
}

func checkAlgs(algs []string) error {
	if len(algs) == 0 {
		return fmt.Errorf("%w: no signing algorithms allowed", ErrBadOption)
	}
	var hmac, public bool
	for _, alg := range algs {
		m := jwt.GetSigningMethod(alg)
		switch {
		case alg == "none" || m == nil || m == jwt.SigningMethodNone:
			return fmt.Errorf("%w: signing algorithm %q is not allowed", ErrBadOption, alg)
		case strings.HasPrefix(alg, "HS"):
			hmac = true
		default:
			public = true
		}
	}
	if hmac && public {
		return fmt.Errorf("%w: algorithms %v mix HMAC and public-key methods", ErrBadOption, algs)
	}
	return nil
}

// Verified is what the middleware puts in the request context.
type Verified struct {
	JWT    *jwt.Token      // the parsed, verified token
	Claims jwt.Claims      // its claims, of the type WithClaims makes
	Token  jwtrevoke.Token // what the revocation check used
	Result Result          // the agent's answer (Allowed is true)
}

type ctxKey struct{}

// FromContext returns what the middleware verified for this request.
func FromContext(ctx context.Context) (*Verified, bool) {
	v, ok := ctx.Value(ctxKey{}).(*Verified)
	return v, ok
}

// ClaimsFromContext returns the request's verified claims as type T, the
// type WithClaims makes (jwt.MapClaims by default).
func ClaimsFromContext[T jwt.Claims](ctx context.Context) (T, bool) {
	var zero T
	v, ok := FromContext(ctx)
	if !ok {
		return zero, false
	}
	c, ok := v.Claims.(T)
	return c, ok
}

func parseReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformed
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonExpired
	}
	return ReasonInvalid
}

// IsRevokedJWT is the check as a hook for other JWT middleware
// (auth0/go-jwt-middleware, echo-jwt, jwtauth): call it with the token they
// verified, and refuse the request when it returns true. A token whose
// jti, sub, sid or kid is present but not a non-empty string is reported
// revoked: it could slip past a revocation otherwise.
//
// The kid checked is the token's header (see jwtrevoke.FromJWT): a key
// revocation holds only if the other middleware's keyfunc picked the key by
// that kid and refused kids it does not know. Middleware and Verifier
// check the identity of the key that verified instead.
func (a *Agent) IsRevokedJWT(t *jwt.Token) bool {
	tok, err := jwtrevoke.FromJWT(t)
	if err != nil {
		return true
	}
	return a.IsRevoked(&tok)
}
