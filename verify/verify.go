package verify

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// Verifier checks a JWT's signature and claims, not its revocation: the
// first half of what Middleware does, for endpoints that need a verified
// token without refusing revoked ones (RFC 7009 revocation, RFC 7662
// introspection, logout). A Verifier is safe for use by multiple
// goroutines.
type Verifier struct {
	cfg       config
	parser    *jwt.Parser // only decodes; the checks are Verify's
	validator *jwt.Validator
	algs      []string
	keys      keyset.Set
}

// New returns a Verifier; its arguments mean what Middleware's do.
// Of the options, WithExtractor and WithErrorHandler only matter to
// Middleware.
func New(keys keyset.Set, algs []string, opts ...Option) (*Verifier, error) {
	if nilSet(keys) {
		return nil, fmt.Errorf("%w: a key set is required", ErrBadOption)
	}
	if err := checkAlgs(algs); err != nil {
		return nil, err
	}
	cfg := config{
		leeway:    30 * time.Second,
		extractor: BearerToken,
		onError:   DefaultErrorHandler,
		newClaims: func() jwt.Claims { return jwt.MapClaims{} },
		maxToken:  8 << 10,
		now:       time.Now,
		seqWait:   5 * time.Millisecond,
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
// kid a string, crit understood), its signature with the keys its keyset.Set
// gives, and its claims. The Token it returns carries, as KeyID, the
// identity of the key that verified the signature. A token without jti is
// refused (jwtrevoke.ReasonNoJTI): it could never be revoked. A jti, sub, sid or kid
// that is present but not a non-empty string is malformed.
func (v *Verifier) Verify(raw string) (*jwt.Token, jwtrevoke.Token, error) {
	tok, t, err := v.verify(raw)
	if err != nil {
		return nil, jwtrevoke.Token{}, err // a *Error, never a typed nil
	}
	return tok, t, nil
}

func (v *Verifier) verify(raw string) (*jwt.Token, jwtrevoke.Token, *Error) {
	if raw == "" {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonMissing}
	}
	if len(raw) > v.cfg.maxToken {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonMalformed, Err: fmt.Errorf("token of %d bytes exceeds %d", len(raw), v.cfg.maxToken)}
	}
	if strings.Count(raw, ".") != 2 {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonMalformed, Err: errors.New("a JWT has three dot-separated parts")}
	}
	claims := v.cfg.newClaims()
	tok, parts, err := v.parser.ParseUnverified(raw, claims)
	if err != nil {
		return nil, jwtrevoke.Token{}, &Error{Reason: parseReason(err), Err: err}
	}
	if _, _, err := keyset.HeaderKeyID(tok); err != nil {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonMalformed, Err: err}
	}
	if err := v.checkCrit(tok.Header); err != nil {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonInvalid, Err: err}
	}
	if alg := tok.Method.Alg(); !slices.Contains(v.algs, alg) {
		return nil, jwtrevoke.Token{}, &Error{Reason: jwtrevoke.ReasonInvalid, Err: fmt.Errorf("%w: signing method %s is not allowed", jwt.ErrTokenSignatureInvalid, alg)}
	}
	key, aerr := v.verifySignature(raw, tok, parts)
	if aerr != nil {
		return nil, jwtrevoke.Token{}, aerr
	}
	if err := v.validator.Validate(claims); err != nil {
		return nil, jwtrevoke.Token{}, &Error{Reason: parseReason(err), Err: fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err)}
	}
	tok.Valid = true
	t, aerr := revocable(claims, key.ID)
	if aerr != nil {
		return nil, jwtrevoke.Token{}, aerr
	}
	return tok, t, nil
}

// verifySignature tries the candidate keys for tok in order and returns
// the one that verifies its signature. parts are the raw token's
// base64url parts.
func (v *Verifier) verifySignature(raw string, tok *jwt.Token, parts []string) (*keyset.Key, *Error) {
	keys, err := v.keys.VerificationKeys(tok)
	if err != nil {
		return nil, &Error{Reason: jwtrevoke.ReasonInvalid, Err: fmt.Errorf("%w: %w", jwt.ErrTokenUnverifiable, err)}
	}
	// The signing input is the raw token up to its last dot (header.payload),
	// sliced rather than joined again.
	signed := raw[:len(parts[0])+1+len(parts[1])]
	var lastErr error
	for i := range keys {
		if lastErr = tok.Method.Verify(signed, tok.Signature, keys[i].Key); lastErr == nil {
			return &keys[i], nil
		}
	}
	err = fmt.Errorf("%w: no key to try", jwt.ErrTokenSignatureInvalid)
	if lastErr != nil {
		err = fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, lastErr)
	}
	return nil, &Error{Reason: jwtrevoke.ReasonInvalid, Err: err}
}

// revocable turns verified claims into the Token the revocation check
// uses, refusing one that could slip past a revocation: no jti, a jti,
// sub, sid of the wrong type, or a key longer than the wire format carries.
func revocable(claims jwt.Claims, keyID string) (jwtrevoke.Token, *Error) {
	t, err := jwtrevoke.FromClaims(claims, keyID)
	if err != nil {
		return t, &Error{Reason: jwtrevoke.ReasonMalformed, Err: err}
	}
	if t.JTI == "" {
		return t, &Error{Reason: jwtrevoke.ReasonNoJTI}
	}
	for _, k := range [...]string{t.JTI, t.Subject, t.Session, t.KeyID} {
		if len(k) > jwtrevoke.MaxKeyLen {
			return t, &Error{Reason: jwtrevoke.ReasonMalformed, Err: fmt.Errorf("a jti, sub, sid or key ID of %d bytes exceeds the %d a revocation can name", len(k), jwtrevoke.MaxKeyLen)}
		}
	}
	return t, nil
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

// nilSet reports whether keys is nil, or holds a nil pointer or function
// (a nil *keyset.JWKS, keyset.Keyfunc(nil)): such a set is not == nil, and
// would panic on the first token instead of failing here.
func nilSet(keys keyset.Set) bool {
	if keys == nil {
		return true
	}
	v := reflect.ValueOf(keys)
	return (v.Kind() == reflect.Pointer || v.Kind() == reflect.Func) && v.IsNil()
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

func parseReason(err error) jwtrevoke.Reason {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return jwtrevoke.ReasonMalformed
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return jwtrevoke.ReasonExpired
	}
	return jwtrevoke.ReasonInvalid
}
