package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// The demo issuer's fixed parameters.
const (
	accessLifetime  = 5 * time.Minute
	refreshLifetime = time.Hour
	maxBody         = 16 << 10
	// issueDelayHeader tells the page how long a login or refresh
	// waited for a cut-off's second to end (see issuer.notBefore), in
	// milliseconds rounded up: 0 when it did not wait.
	issueDelayHeader = "X-Issue-Delay-Ms"
)

// users are the demo's accounts: the password is the user name.
var users = []string{"alice", "bob", "carol"}

// issuer is the demo's token issuer: HS256 access tokens with jti, sub,
// sid, kid, iat and exp, opaque rotating refresh tokens (one session per
// login), and the logout handlers that publish revocations.
//
// # Whole-second iat
//
// Access tokens carry a whole-second iat, as most issuers write it, and the
// agents' rule is iat < cut-off with iat taken as the start of its second.
// A token minted in the same second as a subject (or all) cut-off T, after
// T, would therefore be refused. The issuer remembers the latest subject
// and all cut-offs (those it publishes itself, set before publishing, and
// those its own agent sees from other writers) and, when it mints a token
// for a subject before ceil(T), waits out the rest of that second — at most
// one second, and only for a user who logs straight back in after "log out
// everywhere". It never writes a fractional iat. Logout revokes a token and
// its session; a new login gets a new session and jti, so it needs no wait.
//
// A issuer is safe for use by multiple goroutines.
type issuer struct {
	pub      *publisher.Publisher
	verifier *verify.Verifier
	agent    *agent.Agent // the issuer's own view, for logout-all and introspection
	secret   []byte
	kid      string
	keys     *keyset.Static // the secret, known as kid
	iss      string
	log      *slog.Logger
	now      func() time.Time
	// agents is how many agents (replicas and the issuer's own) a
	// logout waits to be confirmed by; 0: no confirmation.
	agents int

	mu        sync.Mutex              // guards the fields below
	sessions  map[string]*session     // by sid
	refresh   map[string]*refreshSlot // by refresh token
	cutoffs   map[string]time.Time    // subject cut-offs whose second has not ended
	allCutoff time.Time               // the latest all cut-off
	swept     time.Time               // last sweep of expired entries
}

// session is one login's refresh-token family.
type session struct {
	sub     string
	current string    // the refresh token that may be used next
	dead    bool      // logged out, revoked, or reuse detected
	expires time.Time // when its current refresh token expires
}

// refreshSlot is one refresh token ever handed out, kept until it expires
// so that a reused one is recognised.
type refreshSlot struct {
	sid     string
	used    bool
	expires time.Time
}

func newIssuer(pub *publisher.Publisher, iss string, log *slog.Logger) (*issuer, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	is := &issuer{
		pub:      pub,
		secret:   secret,
		kid:      fmt.Sprintf("demo-%d", time.Now().Unix()),
		iss:      iss,
		log:      log,
		now:      time.Now,
		sessions: map[string]*session{},
		refresh:  map[string]*refreshSlot{},
		cutoffs:  map[string]time.Time{},
	}
	keys, err := keyset.NewStatic(keyset.Key{ID: is.kid, Key: secret})
	if err != nil {
		return nil, err
	}
	is.keys = keys
	v, err := verify.New(keys, []string{"HS256"}, verify.WithIssuer(iss))
	if err != nil {
		return nil, err
	}
	is.verifier = v
	return is, nil
}

// observe is the issuer agent's OnApply hook: it records subject and all
// cut-offs published by any writer, so tokens minted later in the same
// second wait for it. It runs on the agent's apply goroutine and only takes
// the issuer's lock.
func (is *issuer) observe(r jwtrevoke.Revocation, _ uint64) {
	switch r.Kind {
	case jwtrevoke.KindSubject:
		is.noteCutoff(r.Key, r.Before)
	case jwtrevoke.KindAll:
		is.mu.Lock()
		if r.Before.After(is.allCutoff) {
			is.allCutoff = r.Before
		}
		is.mu.Unlock()
	}
}

func (is *issuer) noteCutoff(sub string, t time.Time) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if t.After(is.cutoffs[sub]) {
		is.cutoffs[sub] = t
	}
}

// ceilSecond is the first whole second at or after t: the earliest time
// whose whole-second iat is not before t.
func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Equal(t) {
		return s
	}
	return s.Add(time.Second)
}

// notBefore is the earliest time a token for sub may be minted so that its
// whole-second iat is not before any cut-off that applies to sub.
func (is *issuer) notBefore(sub string) time.Time {
	is.mu.Lock()
	defer is.mu.Unlock()
	t := is.cutoffs[sub]
	if is.allCutoff.After(t) {
		t = is.allCutoff
	}
	if t.IsZero() {
		return t
	}
	return ceilSecond(t)
}

// mint signs an access token for sub in session sid, waiting first (at
// most a second) if a cut-off for sub falls in the current second. It
// returns the token, its claims and how long it waited for the cut-off's
// second to end: zero when it did not wait (not the time the rest of the
// call took). A session that ended meanwhile (logout everywhere while this
// request waited) gets no token.
func (is *issuer) mint(ctx context.Context, sub, sid string) (string, jwt.MapClaims, time.Duration, error) {
	start := is.now()
	var waited time.Duration
	if nb := is.notBefore(sub); start.Before(nb) {
		t := time.NewTimer(nb.Sub(start))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", nil, 0, ctx.Err()
		}
		waited = is.now().Sub(start)
	}
	is.mu.Lock()
	s := is.sessions[sid]
	live := s != nil && !s.dead
	is.mu.Unlock()
	if !live {
		return "", nil, 0, &grantError{"the session has ended"}
	}
	now := is.now()
	// A whole-second iat, as JWT issuers write it by default.
	iat := now.Unix()
	claims := jwt.MapClaims{
		"iss": is.iss,
		"sub": sub,
		"sid": sid,
		"jti": randomID(16),
		"iat": iat,
		"exp": iat + int64(accessLifetime/time.Second),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = is.kid
	raw, err := tok.SignedString(is.secret)
	if err != nil {
		return "", nil, 0, err
	}
	return raw, claims, waited, nil
}

// newSession starts a session for sub and returns its sid and first
// refresh token.
func (is *issuer) newSession(sub string) (sid, refresh string) {
	sid, refresh = randomID(12), randomID(32)
	now := is.now()
	is.mu.Lock()
	defer is.mu.Unlock()
	is.sweepLocked(now)
	exp := now.Add(refreshLifetime)
	is.sessions[sid] = &session{sub: sub, current: refresh, expires: exp}
	is.refresh[refresh] = &refreshSlot{sid: sid, expires: exp}
	return sid, refresh
}

// sweepLocked forgets expired refresh tokens and sessions, and subject
// cut-offs whose second has ended, at most once a minute.
func (is *issuer) sweepLocked(now time.Time) {
	if now.Sub(is.swept) < time.Minute {
		return
	}
	is.swept = now
	for tok, r := range is.refresh {
		if now.After(r.expires) {
			delete(is.refresh, tok)
		}
	}
	for sid, s := range is.sessions {
		if now.After(s.expires) {
			delete(is.sessions, sid)
		}
	}
	for sub, t := range is.cutoffs {
		if !now.Before(ceilSecond(t)) {
			delete(is.cutoffs, sub)
		}
	}
}

// grantError is a refused grant: a refresh token or a session that is
// unknown, expired or ended.
type grantError struct{ desc string }

func (e *grantError) Error() string { return e.desc }

// rotate checks a refresh token and, if it is the current one of a live
// session, replaces it. A token that was already used means the family
// leaked: the session is killed and reuse is true.
func (is *issuer) rotate(refresh string) (sid, sub, next string, reuse bool, err error) {
	now := is.now()
	is.mu.Lock()
	defer is.mu.Unlock()
	slot, ok := is.refresh[refresh]
	if !ok || now.After(slot.expires) {
		return "", "", "", false, &grantError{"unknown or expired refresh token"}
	}
	s := is.sessions[slot.sid]
	if s == nil || s.dead {
		return "", "", "", false, &grantError{"the session has ended"}
	}
	if slot.used || s.current != refresh {
		s.dead = true
		return slot.sid, s.sub, "", true, &grantError{"refresh token reuse detected: the session has been revoked"}
	}
	slot.used = true
	next = randomID(32)
	exp := now.Add(refreshLifetime)
	s.current, s.expires = next, exp
	is.refresh[next] = &refreshSlot{sid: slot.sid, expires: exp}
	return slot.sid, s.sub, next, false, nil
}

// endSession marks a session dead so that its refresh tokens stop working.
// It reports whether the session existed and was live.
func (is *issuer) endSession(sid string) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	s := is.sessions[sid]
	if s == nil || s.dead {
		return false
	}
	s.dead = true
	return true
}

// endSubject marks every session of sub dead.
func (is *issuer) endSubject(sub string) int {
	is.mu.Lock()
	defer is.mu.Unlock()
	n := 0
	for _, s := range is.sessions {
		if s.sub == sub && !s.dead {
			s.dead = true
			n++
		}
	}
	return n
}

// revokeRefresh is the RFC 7009 handler's hook for refresh tokens: revoking
// one ends its session and revokes the session's access tokens.
func (is *issuer) revokeRefresh(ctx context.Context, token string) (bool, error) {
	is.mu.Lock()
	slot, ok := is.refresh[token]
	var sid string
	if ok {
		sid = slot.sid
		if s := is.sessions[sid]; s != nil {
			s.dead = true
		}
	}
	is.mu.Unlock()
	if !ok {
		return false, nil
	}
	if _, err := is.pub.RevokeSession(ctx, sid, time.Time{}, publisher.Reason("refresh token revoked (RFC 7009)")); err != nil {
		return true, err
	}
	return true, nil
}

// randomID returns n random bytes, base64url without padding.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
