package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// Result is the answer to one check.
type Result struct {
	// Verdict is the filter's answer after any settling: NotRevoked,
	// Revoked, or Unknown when the stream could not be asked in time.
	Verdict filter.Verdict
	// Kind is the revocation kind behind a Revoked or Unknown verdict.
	Kind jwtrevoke.Kind
	// Stale is true when the agent is not ready or has not heard from the
	// server within the staleness bound: a revocation it has not seen may
	// exist.
	Stale bool
	// NotReady is true while the agent is still replaying the stream.
	NotReady bool
	// Allowed is the decision under the agent's policy: false for Revoked,
	// and for Unknown or Stale under FailClosed.
	Allowed bool
}

// Reason names why a token was refused or, for an allowed stale answer,
// why it may be wrong: ReasonRevoked, ReasonUnknown, ReasonNotReady,
// ReasonStale, or ReasonNone for a fresh NotRevoked.
func (r Result) Reason() jwtrevoke.Reason {
	switch {
	case r.Verdict == filter.Revoked:
		return jwtrevoke.ReasonRevoked
	case r.Verdict == filter.Unknown:
		return jwtrevoke.ReasonUnknown
	case r.NotReady:
		return jwtrevoke.ReasonNotReady
	case r.Stale:
		return jwtrevoke.ReasonStale
	}
	return jwtrevoke.ReasonNone
}

// Check answers whether a verified token may be used. It does no network
// I/O and no allocation, except to settle an Unknown verdict (only after
// the memory budget forced evictions), which asks the stream for that key's
// latest event with the settle timeout.
func (a *Agent) Check(t *jwtrevoke.Token) Result { return a.CheckAt(t, a.cfg.clock()) }

// CheckAt is Check at the time now, for a caller that has already read
// the clock (a gateway or handler that timed the request): it reads no
// clock itself. verify.Middleware calls Check, since golang-jwt's
// validator reads its own clock and cannot be handed one per request. now must be a reading of the agent's
// clock (WithClock), not a time of the caller's choosing: revocations,
// expiries and staleness are judged at it.
func (a *Agent) CheckAt(t *jwtrevoke.Token, now time.Time) Result {
	v, k := a.f.CheckAt(t, now)
	if v == filter.Unknown {
		v, k = a.settle(t, now)
	}
	res := Result{Verdict: v, Kind: k}
	res.NotReady = !a.ready.Load()
	res.Stale = res.NotReady || now.UnixNano()-a.freshAsOf.Load() > int64(a.cfg.staleAfter)
	switch {
	case v == filter.Revoked:
		res.Allowed = false
	case v == filter.Unknown || res.Stale:
		res.Allowed = a.cfg.policy == FailOpen
	default:
		res.Allowed = true
	}
	a.stats.count(t, res)
	return res
}

// IsRevoked reports whether a verified token must be refused: revoked, or
// (under FailClosed) unknown or stale. It is the hook other JWT middleware
// expects; Check tells why.
func (a *Agent) IsRevoked(t *jwtrevoke.Token) bool { return !a.Check(t).Allowed }

// IsRevokedJWT is the check as a hook for other JWT middleware
// (auth0/go-jwt-middleware, echo-jwt, jwtauth): call it with the token they
// verified, and refuse the request when it returns true. A token whose
// jti, sub, sid or kid is present but not a non-empty string is reported
// revoked: it could slip past a revocation otherwise.
//
// The kid checked is the token's header (see jwtrevoke.FromJWT): a key
// revocation holds only if the other middleware's keyfunc picked the key by
// that kid and refused kids it does not know. verify.Middleware and verify.Verifier
// check the identity of the key that verified instead.
func (a *Agent) IsRevokedJWT(t *jwt.Token) bool {
	tok, err := jwtrevoke.FromJWT(t)
	if err != nil {
		return true
	}
	return a.IsRevoked(&tok)
}

// Now is the agent's clock (WithClock): verify.Middleware checks exp,
// nbf and iat with it too.
func (a *Agent) Now() time.Time { return a.cfg.clock() }

// settle asks the stream for the latest event of each key whose check is
// Unknown, caches the answers in the filter and checks again.
func (a *Agent) settle(t *jwtrevoke.Token, nowT time.Time) (filter.Verdict, jwtrevoke.Kind) {
	a.stats.settles.Add(1)
	keys := [...]struct {
		k   jwtrevoke.Kind
		key string
	}{{jwtrevoke.KindToken, t.JTI}, {jwtrevoke.KindSubject, t.Subject}, {jwtrevoke.KindSession, t.Session}, {jwtrevoke.KindKey, t.KeyID}}
	for _, c := range keys {
		if c.key == "" || a.f.CheckKeyAt(c.k, c.key, t.IssuedAt, nowT) != filter.Unknown {
			continue
		}
		if err := a.settleKey(c.k, c.key, nowT); err != nil {
			a.stats.settleErrors.Add(1)
			a.cfg.log.Warn("could not settle an unknown verdict", "kind", c.k, "err", err)
			return filter.Unknown, c.k
		}
	}
	return a.f.CheckAt(t, nowT)
}

// maxSettleEvents bounds how many events of one key settling reads.
const maxSettleEvents = 10000

// settleKey reads every event the stream holds for one key and settles the
// filter with their merge: the latest cut-off and the latest expiry of the
// valid ones. An event that does not decode (garbage, unsigned where
// signatures are required, expired) or names another key is left out, as
// the replay leaves it out, so nothing written after a valid event can
// shadow it.
func (a *Agent) settleKey(k jwtrevoke.Kind, key string, now time.Time) error {
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.settleTimeout)
	defer cancel()
	subj := jwtrevoke.Subject(a.cfg.prefix, k, key)
	var merged *jwtrevoke.Revocation
	seq := uint64(1)
	for range maxSettleEvents {
		m, err := a.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return a.f.Settle(k, key, merged, now)
		}
		if err != nil {
			return err
		}
		seq = m.Sequence + 1
		r, _, err := a.dec.DecodeSigned(m.Data, now)
		if err != nil || r.Kind != k || r.Key != key {
			continue
		}
		if merged == nil {
			merged = &r
			continue
		}
		if r.Before.After(merged.Before) {
			merged.Before = r.Before
		}
		if r.Expires.After(merged.Expires) {
			merged.Expires = r.Expires
		}
	}
	return fmt.Errorf("jwtrevoke/agent: %v %q has more than %d events in the stream", k, key, maxSettleEvents)
}
