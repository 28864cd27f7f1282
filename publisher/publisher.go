package publisher

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/jsretry"
)

// Errors returned by this package.
var (
	ErrBadOption = errors.New("jwtrevoke/publisher: bad option")
)

// Publisher writes revocation events. It is safe for use by multiple
// goroutines.
type Publisher struct {
	cfg    config
	js     jetstream.JetStream
	stream jetstream.Stream
	dec    jwtrevoke.Decoder
	stats  counters // see metrics.go

	watchMu sync.Mutex
	watch   *AgentWatch // started by WatchAgents
}

// New returns a Publisher over nc. It creates the revocation stream if it
// does not exist (unless WithCreateStream(false)) and refuses a stream whose
// configuration is unsafe (see CheckStream).
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Publisher, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	var js jetstream.JetStream
	var err error
	if cfg.domain != "" {
		js, err = jetstream.NewWithDomain(nc, cfg.domain)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/publisher: %w", err)
	}
	var st jetstream.Stream
	if cfg.domain != "" {
		// Through a region's leaf node just started, the hub's API answers
		// once the link carries its interest.
		err = jsretry.Linked(ctx, func(ctx context.Context) (err error) {
			st, err = js.Stream(ctx, cfg.stream)
			return err
		})
	} else {
		st, err = js.Stream(ctx, cfg.stream)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) && cfg.create {
		err = jsretry.Do(ctx, jsretry.Code, func() (err error) {
			st, err = js.CreateStream(ctx, StreamConfig(cfg.stream, cfg.prefix, cfg.maxLifetime, cfg.leeway, cfg.replicas))
			return err
		})
		if err == nil {
			cfg.log.Info("created revocation stream", "stream", cfg.stream, "replicas", cfg.replicas,
				"max_token_lifetime", cfg.maxLifetime, "leeway", cfg.leeway, "subject_prefix", cfg.prefix)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/publisher: stream %q: %w", cfg.stream, err)
	}
	info := st.CachedInfo()
	if m := info.Config.Mirror; m != nil {
		return nil, fmt.Errorf("%w: stream %q here is a mirror of %q (a region's copy): publish to the hub's stream, with WithDomain (serve and revoke: --hub-domain) on this connection or connected to the hub", ErrUnsafeStream, cfg.stream, m.Name)
	}
	c, err := adoptContract(&cfg, info.Config)
	if err != nil {
		return nil, err
	}
	if err := CheckStream(info.Config, cfg.prefix, cfg.maxLifetime, cfg.leeway); err != nil {
		return nil, err
	}
	// Reading back a key's latest event to merge it: within the
	// contract's bounds, the same as the agents'. A publisher that signs
	// merges only events signed with its own key, so that one written by
	// someone who may publish but not sign is never re-signed with our key.
	var own jwtrevoke.KeySet
	if cfg.signer != nil {
		own = jwtrevoke.KeySet{cfg.signer.KeyID: cfg.signer.Key.Public().(ed25519.PublicKey)}
	}
	return &Publisher{
		cfg:    cfg,
		js:     js,
		stream: st,
		dec:    c.Decoder(own),
	}, nil
}

// contractSet records which of the contract's options a caller gave.
type contractSet struct{ prefix, maxLifetime, leeway bool }

// adoptContract makes cfg follow the contract in the stream's metadata:
// options not given take the stream's values, and an option given with
// another value is an error naming both. A stream without a contract
// (made by hand or by an older version) keeps cfg as it is.
func adoptContract(cfg *config, sc jetstream.StreamConfig) (jwtrevoke.Contract, error) {
	mine := jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: cfg.prefix, MaxTokenLifetime: cfg.maxLifetime, Leeway: cfg.leeway}
	theirs, ok, err := jwtrevoke.ContractFromMetadata(sc.Metadata)
	if err != nil {
		return mine, fmt.Errorf("jwtrevoke/publisher: stream %q: %w", sc.Name, err)
	}
	if !ok {
		cfg.log.Warn("the revocation stream carries no contract in its metadata: agents must be configured with the same max token lifetime, leeway and subject prefix", "stream", sc.Name)
		return mine, nil
	}
	if err := theirs.Conflict(mine, cfg.set.prefix, cfg.set.maxLifetime, cfg.set.leeway, "publisher.With"); err != nil {
		return mine, fmt.Errorf("jwtrevoke/publisher: stream %q: %w", sc.Name, err)
	}
	cfg.prefix, cfg.maxLifetime, cfg.leeway = theirs.SubjectPrefix, theirs.MaxTokenLifetime, theirs.Leeway
	return theirs, nil
}

// Stream returns the name of the revocation stream.
func (p *Publisher) Stream() string { return p.cfg.stream }

// Contract returns the stream's contract as the publisher follows it: the
// one in the stream's metadata, or its own options for a stream without
// one.
func (p *Publisher) Contract() jwtrevoke.Contract {
	return jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: p.cfg.prefix, MaxTokenLifetime: p.cfg.maxLifetime, Leeway: p.cfg.leeway}
}

// Receipt is the server's acknowledgement of a revocation.
type Receipt struct {
	// Revocation is the event as stored: merged with the key's earlier
	// event, if any, so its cut-off and expiry are the later of both.
	Revocation jwtrevoke.Revocation
	// Seq is the event's stream sequence.
	Seq uint64
	// Duplicate is true when the server had already stored this event
	// (a retry after a lost acknowledgement).
	Duplicate bool
	// MsgID is the event's deduplication ID.
	MsgID string
	// Confirmed is how many live agents had reported applying the event
	// when the call returned, under Confirm; 0 without it.
	Confirmed int
}

// RevokeOption sets optional fields of one revocation, or how the call
// waits for it.
type RevokeOption func(*revokeCall)

// revokeCall is one Revoke call's revocation and options.
type revokeCall struct {
	rev     *jwtrevoke.Revocation
	confirm int
	header  bool // ask agents to report at once (jwtrevoke.ConfirmHeader): set by Confirm
	within  time.Duration
}

// Reason records why (free text, at most jwtrevoke.MaxReasonLen bytes).
func Reason(s string) RevokeOption { return func(c *revokeCall) { c.rev.Reason = s } }

// Actor records who (overrides WithActor).
func Actor(s string) RevokeOption { return func(c *revokeCall) { c.rev.Actor = s } }

// Confirm makes the call return only once n live agents have reported
// applying the revocation (jwtrevoke.AgentStatus on the status subjects),
// or within has passed: then the error is a *ConfirmError (wrapping
// ErrNotConfirmed) saying how many had, and the revocation is on the
// stream all the same. Receipt.Confirmed is the count. The publisher's
// NATS user needs to subscribe to the status subjects (deploy/nats's
// publisher may). n < 1 asks for nothing.
func Confirm(n int, within time.Duration) RevokeOption {
	return func(c *revokeCall) { c.confirm, c.within, c.header = n, within, n > 0 }
}

// RevokeToken revokes one verified token by its jti until its exp. It is
// the one line a logout handler needs:
//
//	ver, _ := verify.FromContext(r.Context()) // what the middleware verified
//	_, err := pub.RevokeToken(r.Context(), ver.Token)
//
// A token that has already expired needs no revocation: RevokeToken
// returns a zero Receipt and nil.
func (p *Publisher) RevokeToken(ctx context.Context, t jwtrevoke.Token, opts ...RevokeOption) (Receipt, error) {
	if t.JTI == "" {
		return Receipt{}, jwtrevoke.ErrNoTokenID
	}
	return p.RevokeJTI(ctx, t.JTI, t.ExpiresAt, opts...)
}

// RevokeJWT is RevokeToken for a parsed *jwt.Token (see jwtrevoke.FromJWT;
// a token whose jti, sub, sid or kid is of the wrong type is an error
// wrapping jwtrevoke.ErrMalformedClaims).
func (p *Publisher) RevokeJWT(ctx context.Context, t *jwt.Token, opts ...RevokeOption) (Receipt, error) {
	tok, err := jwtrevoke.FromJWT(t)
	if err != nil {
		return Receipt{}, err
	}
	return p.RevokeToken(ctx, tok, opts...)
}

// RevokeJTI revokes the token with this jti, whose exp is exp (zero if
// unknown: the revocation is then kept for the max token lifetime).
func (p *Publisher) RevokeJTI(ctx context.Context, jti string, exp time.Time, opts ...RevokeOption) (Receipt, error) {
	now := p.cfg.clock()
	expires := now.Add(p.cfg.maxLifetime + p.cfg.leeway)
	if !exp.IsZero() {
		expires = exp.Add(p.cfg.leeway)
		if !expires.After(now) {
			return Receipt{}, nil
		}
	}
	return p.Revoke(ctx, p.revocation(jwtrevoke.KindToken, jti, now, expires), opts...)
}

// RevokeSubject revokes every token of sub issued before before ("log out
// everywhere", password change). A zero before means now.
func (p *Publisher) RevokeSubject(ctx context.Context, sub string, before time.Time, opts ...RevokeOption) (Receipt, error) {
	return p.revokeCutoff(ctx, jwtrevoke.KindSubject, sub, before, opts)
}

// RevokeSession revokes every token of the session sid issued before
// before (a refresh-token family). A zero before means now.
func (p *Publisher) RevokeSession(ctx context.Context, sid string, before time.Time, opts ...RevokeOption) (Receipt, error) {
	return p.revokeCutoff(ctx, jwtrevoke.KindSession, sid, before, opts)
}

// RevokeKey revokes every token signed with the key kid: the identity the
// agents' verifiers know the key by (its configured name, JWKS kid or RFC
// 7638 thumbprint; see keyset.Set), matched against the key that
// verifies a token, not only its header.
func (p *Publisher) RevokeKey(ctx context.Context, kid string, opts ...RevokeOption) (Receipt, error) {
	return p.revokeCutoff(ctx, jwtrevoke.KindKey, kid, time.Time{}, opts)
}

// RevokeAll revokes every token issued before before. A zero before means
// now.
func (p *Publisher) RevokeAll(ctx context.Context, before time.Time, opts ...RevokeOption) (Receipt, error) {
	return p.revokeCutoff(ctx, jwtrevoke.KindAll, "", before, opts)
}

func (p *Publisher) revokeCutoff(ctx context.Context, k jwtrevoke.Kind, key string, before time.Time, opts []RevokeOption) (Receipt, error) {
	now := p.cfg.clock()
	if before.IsZero() {
		before = now
	}
	// No token issued before the cut-off outlives it by more than the max
	// lifetime (plus leeway).
	return p.Revoke(ctx, p.revocation(k, key, before, before.Add(p.cfg.maxLifetime+p.cfg.leeway)), opts...)
}

func (p *Publisher) revocation(k jwtrevoke.Kind, key string, before, expires time.Time) jwtrevoke.Revocation {
	return jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Expires: expires, Actor: p.cfg.actor}
}

// Revoke writes one revocation and returns once the server acknowledged
// it. Issued is set to now if zero. The event is merged with the key's
// latest event (later cut-off and expiry win); the stream keeps every
// event of the key besides, and agents merge them all.
//
// An invalid r is refused with the error of r.Validate, and one whose
// Expires is further ahead than now + max token lifetime + leeway +
// jwtrevoke.RetentionMargin with jwtrevoke.ErrTooFarAhead: agents would refuse it.
// opts may set its reason and actor, and Confirm.
func (p *Publisher) Revoke(ctx context.Context, r jwtrevoke.Revocation, opts ...RevokeOption) (Receipt, error) {
	call := revokeCall{rev: &r}
	for _, o := range opts {
		o(&call)
	}
	if r.Issued.IsZero() {
		r.Issued = p.cfg.clock()
	}
	if err := p.validate(r, p.cfg.clock()); err != nil {
		return Receipt{}, err
	}
	var w *AgentWatch
	var werr error
	if call.confirm > 0 {
		// Watching before publishing: no report of the event can be missed.
		w, werr = p.WatchAgents()
	}
	rc, err := p.revoke(ctx, r, call.header)
	if err != nil {
		p.stats.errors.Add(1)
		return rc, err
	}
	if call.confirm > 0 {
		if werr != nil {
			return rc, errors.Join(&ConfirmError{Seq: rc.Seq, Want: call.confirm, Within: call.within}, werr)
		}
		cctx, cancel := context.WithTimeout(ctx, call.within)
		rc.Confirmed, err = w.WaitApplied(cctx, rc.Seq, call.confirm)
		cancel()
		if err != nil {
			return rc, &ConfirmError{Seq: rc.Seq, Want: call.confirm, Got: rc.Confirmed, Within: call.within}
		}
	}
	return rc, nil
}

// WatchAgents returns the publisher's watch of its stream's agents,
// started on first use.
func (p *Publisher) WatchAgents() (*AgentWatch, error) {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	if p.watch == nil {
		w, err := WatchAgents(p.js.Conn(), p.cfg.stream)
		if err != nil {
			return nil, err
		}
		p.watch = w
	}
	return p.watch, nil
}

// validate is r.Validate plus the bound the agents apply: an event that
// must be remembered longer than the max token lifetime (plus leeway and
// jwtrevoke.RetentionMargin) from now is refused with jwtrevoke.ErrTooFarAhead, since
// every agent would refuse it too and the revocation would be acknowledged
// yet never honoured. Such an event means a token whose exp is beyond the
// configured lifetime, or a cut-off in the future.
func (p *Publisher) validate(r jwtrevoke.Revocation, now time.Time) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if limit := now.Add(p.cfg.maxLifetime + p.cfg.leeway + jwtrevoke.RetentionMargin); r.Expires.After(limit) {
		return fmt.Errorf("%w: %v %q must be kept until %s, past now + max token lifetime %v + leeway %v + %v: agents would refuse it",
			jwtrevoke.ErrTooFarAhead, r.Kind, r.Key, r.Expires.UTC().Format(time.RFC3339), p.cfg.maxLifetime, p.cfg.leeway, jwtrevoke.RetentionMargin)
	}
	return nil
}

// revoke is Revoke for a valid r. The stream keeps every event of a key
// and agents merge them, so the merge here only makes the stored event as
// strong as the key's latest one; a concurrent writer of the same key loses
// nothing, and no guard on the subject's last sequence is needed (one that
// a writer of garbage on the subject could trip forever).
//
// The common case, a key revoked for the first time, takes one round trip:
// the event is written expecting no event on its subject yet. Only when
// the server says there is one does the merge follow, unguarded.
func (p *Publisher) revoke(ctx context.Context, r jwtrevoke.Revocation, confirm bool) (Receipt, error) {
	subj := jwtrevoke.Subject(p.cfg.prefix, r.Kind, r.Key)
	rc, err := p.publish(ctx, subj, r, confirm, jetstream.WithExpectLastSequencePerSubject(0))
	if err == nil || !wrongLastSequence(err) {
		return rc, err
	}
	merged, err := p.mergeLatest(ctx, subj, r)
	if err != nil {
		return Receipt{}, err
	}
	return p.publish(ctx, subj, merged, confirm)
}

// mergeLatest reads the key's latest event and merges r into it: the
// later cut-off and the later expiry win. An event that does not decode
// under the publisher's decoder (expired, foreign, malformed, or not signed
// by this publisher's key when it signs) is left out.
func (p *Publisher) mergeLatest(ctx context.Context, subj string, r jwtrevoke.Revocation) (jwtrevoke.Revocation, error) {
	var (
		m   *jetstream.RawStreamMsg
		err error
	)
	err = p.retry(ctx, func(ctx context.Context) error {
		m, err = p.stream.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			m = nil
			return nil
		}
		return err
	})
	if err != nil {
		return r, fmt.Errorf("jwtrevoke/publisher: reading the latest event of %v %q: %w", r.Kind, r.Key, err)
	}
	if m == nil {
		return r, nil
	}
	old, err := p.dec.Decode(m.Data, p.cfg.clock())
	if err != nil || old.Kind != r.Kind || old.Key != r.Key {
		return r, nil
	}
	if old.Before.After(r.Before) {
		r.Before = old.Before
	}
	if old.Expires.After(r.Expires) {
		r.Expires = old.Expires
	}
	return r, nil
}

// publish encodes r and publishes it until acknowledged, reusing the
// message ID on every attempt.
func (p *Publisher) publish(ctx context.Context, subj string, r jwtrevoke.Revocation, confirm bool, opts ...jetstream.PublishOpt) (Receipt, error) {
	data, err := jwtrevoke.Encode(r, p.cfg.signer)
	if err != nil {
		return Receipt{}, err
	}
	msg := p.message(subj, r, data, confirm)
	rc := Receipt{Revocation: r, MsgID: msg.Header.Get(jetstream.MsgIDHeader)}
	err = p.retry(ctx, func(ctx context.Context) error {
		ack, err := p.js.PublishMsg(ctx, msg, opts...)
		if err != nil {
			return err // a wrong last sequence is a 400: not retried
		}
		rc.Seq, rc.Duplicate = ack.Sequence, ack.Duplicate
		return nil
	})
	if err != nil {
		return Receipt{}, err
	}
	p.stats.acked(r.Kind, rc.Duplicate)
	p.cfg.log.Debug("revoked", "kind", r.Kind, "key", r.Key, "seq", rc.Seq, "duplicate", rc.Duplicate)
	return rc, nil
}

func (p *Publisher) message(subj string, r jwtrevoke.Revocation, data []byte, confirm bool) *nats.Msg {
	msg := nats.NewMsg(subj)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, jwtrevoke.MsgID(data))
	if confirm {
		// Someone waits for the agents' reports: they send one at once.
		msg.Header.Set(jwtrevoke.ConfirmHeader, "1")
	}
	if r.Kind == jwtrevoke.KindToken {
		// The event leaves the log when no clock could still accept its
		// token.
		ttl := r.Expires.Sub(p.cfg.clock()) + jwtrevoke.RetentionMargin
		msg.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(ttl.Round(time.Second)/time.Second)+1, 10)+"s")
	}
	return msg
}

// wrongLastSequence reports whether err is the server refusing a publish
// whose expected last subject sequence did not hold.
func wrongLastSequence(err error) bool {
	var je jetstream.JetStreamError
	if !errors.As(err, &je) || je.APIError() == nil {
		return false
	}
	c := je.APIError().ErrorCode
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
