package verify

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// Middleware returns net/http middleware that verifies the request's JWT
// with keys, accepting only the signing algorithms algs, requires exp and
// jti, asks the agent whether the token may be used, and passes the claims
// to the next handler in the request context (see ClaimsFromContext). A
// refused request gets the ErrorHandler.
//
// keys says which keys may verify a token and what each is called; a key
// revocation is checked against the name of the key that verified it (see
// keyset.Set). Use NewKeys for fixed keys, a *JWKS for an issuer's key sets, or
// Keyfunc to adapt a jwt.Keyfunc (which protects key revocations only if it
// picks keys strictly by kid).
//
// algs may not include "none", nor mix HMAC algorithms with public-key ones
// (a key confusion waiting to happen).
func Middleware(a *agent.Agent, keys keyset.Set, algs []string, opts ...Option) (func(http.Handler) http.Handler, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: Middleware needs an agent", ErrBadOption)
	}
	v, err := New(keys, algs, append([]Option{WithClock(a.Now)}, opts...)...)
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

// verifyRequest extracts, verifies and checks the request's token.
func (v *Verifier) verifyRequest(a *agent.Agent, r *http.Request) (*Verified, *Error) {
	raw, err := v.cfg.extractor(r)
	if err != nil {
		return nil, &Error{Reason: jwtrevoke.ReasonMalformed, Err: err}
	}
	tok, t, aerr := v.verify(raw)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := v.waitSeq(a, r); aerr != nil {
		return nil, aerr
	}
	res := a.Check(&t)
	if !res.Allowed {
		return nil, &Error{Reason: res.Reason()}
	}
	return &Verified{JWT: tok, Claims: tok.Claims, Token: t, Result: res}, nil
}

// waitSeq makes a request that carries jwtrevoke.SeqHeader wait until the
// agent has applied that sequence (WaitSeq).
func (v *Verifier) waitSeq(a *agent.Agent, r *http.Request) *Error {
	if v.cfg.seqWait == 0 {
		return nil
	}
	return WaitSeq(r.Context(), a, r.Header.Values(jwtrevoke.SeqHeader), v.cfg.seqWait)
}

// WaitSeq is the read-your-revocation wait of the middleware, for other
// outlets (package gateway): vals are a request's jwtrevoke.SeqHeader
// values. With none it returns nil at once; with one it waits, at most
// wait, until a has applied that sequence, and returns an Error of reason
// stale if it has not by then (the client has seen a revocation this
// replica may not have); a bad or doubled value is malformed.
func WaitSeq(ctx context.Context, a *agent.Agent, vals []string, wait time.Duration) *Error {
	if len(vals) == 0 {
		return nil
	}
	if len(vals) > 1 {
		return &Error{Reason: jwtrevoke.ReasonMalformed, Err: fmt.Errorf("two %s headers", jwtrevoke.SeqHeader)}
	}
	seq, err := jwtrevoke.ParseSeq(vals[0])
	if err != nil {
		return &Error{Reason: jwtrevoke.ReasonMalformed, Err: err}
	}
	if a.LastApplied() >= seq {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := a.WaitApplied(ctx, seq); err != nil {
		return &Error{Reason: jwtrevoke.ReasonStale, Err: fmt.Errorf("sequence %d not applied within %v: %w", seq, wait, err)}
	}
	return nil
}

// Verified is what the middleware puts in the request context.
type Verified struct {
	JWT    *jwt.Token      // the parsed, verified token
	Claims jwt.Claims      // its claims, of the type WithClaims makes
	Token  jwtrevoke.Token // what the revocation check used
	Result agent.Result    // the agent's answer (Allowed is true)
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
