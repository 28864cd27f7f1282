package publisher_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// lifetime is the max token lifetime every publisher and agent here uses.
const lifetime = time.Hour

// serverConn starts an embedded server for the test and connects to it.
func serverConn(t testing.TB) *nats.Conn {
	t.Helper()
	s := testkit.NATS(t, "")
	return testkit.Connect(t, s.ClientURL())
}

func stream(t testing.TB, nc *nats.Conn, name string) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("js.Stream(%q) error = %v", name, err)
	}
	return st
}

func streamInfo(t testing.TB, nc *nats.Conn, name string) *jetstream.StreamInfo {
	t.Helper()
	info, err := stream(t, nc, name).Info(context.Background())
	if err != nil {
		t.Fatalf("Stream(%q).Info() error = %v", name, err)
	}
	return info
}

func TestNewCreatesSafeStream(t *testing.T) {
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc, publisher.WithLeeway(time.Minute))
	if p.Stream() != jwtrevoke.DefaultStream {
		t.Fatalf("Stream() = %q, want %q", p.Stream(), jwtrevoke.DefaultStream)
	}
	cfg := streamInfo(t, nc, jwtrevoke.DefaultStream).Config
	if err := publisher.CheckStream(cfg, jwtrevoke.DefaultSubjectPrefix, lifetime, time.Minute); err != nil {
		t.Fatalf("CheckStream(created stream) = %v, want nil", err)
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"Subjects", strings.Join(cfg.Subjects, ","), "jwtrevoke.v1.>"},
		{"Storage", cfg.Storage, jetstream.FileStorage},
		{"Retention", cfg.Retention, jetstream.LimitsPolicy},
		{"MaxAge", cfg.MaxAge, lifetime + time.Minute + jwtrevoke.RetentionMargin},
		{"MaxMsgs", cfg.MaxMsgs, int64(-1)},
		{"MaxBytes", cfg.MaxBytes, int64(-1)},
		{"MaxMsgsPerSubject", cfg.MaxMsgsPerSubject, int64(-1)},
		{"AllowRollup", cfg.AllowRollup, false},
		{"MaxMsgSize", cfg.MaxMsgSize, int32(jwtrevoke.DefaultMaxEventSize)},
		{"Duplicates", cfg.Duplicates, publisher.DuplicateWindow},
		{"DenyDelete", cfg.DenyDelete, true},
		{"DenyPurge", cfg.DenyPurge, true},
		{"AllowDirect", cfg.AllowDirect, true},
		{"AllowMsgTTL", cfg.AllowMsgTTL, true},
	} {
		if c.got != c.want {
			t.Errorf("created stream %s = %v, want %v", c.field, c.got, c.want)
		}
	}

	// A second publisher accepts the stream the first one created.
	testkit.NewPublisher(t, nc, publisher.WithLeeway(time.Minute))

	// Without permission to create, a missing stream is an error.
	ctx := context.Background()
	_, err := publisher.New(ctx, nc, publisher.WithStream("MISSING"), publisher.WithSubjectPrefix("missing.v1"), publisher.WithCreateStream(false))
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("New(WithCreateStream(false)) on a missing stream error = %v, want %v", err, jetstream.ErrStreamNotFound)
	}
}

func TestNewRefusesUnsafeStream(t *testing.T) {
	nc := serverConn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*jetstream.StreamConfig)
		want   string // in the error
	}{
		{"memory storage", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }, "memory storage"},
		{"short MaxAge", func(c *jetstream.StreamConfig) { c.MaxAge = 10 * time.Minute }, "MaxAge 10m0s is shorter"},
		{"deletes allowed", func(c *jetstream.StreamConfig) { c.DenyDelete = false }, "DenyDelete"},
		{"purges allowed", func(c *jetstream.StreamConfig) { c.DenyPurge = false }, "DenyPurge"},
		{"MaxMsgs limit", func(c *jetstream.StreamConfig) { c.MaxMsgs = 1000 }, "MaxMsgs 1000"},
		{"MaxBytes limit", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, "MaxBytes 1048576"},
		{"interest retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, "retention"},
		{"no direct get", func(c *jetstream.StreamConfig) { c.AllowDirect = false }, "AllowDirect is off"},
		{"short duplicate window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }, "duplicate window 1s"},
		{"small MaxMsgSize", func(c *jetstream.StreamConfig) { c.MaxMsgSize = 512 }, "MaxMsgSize 512"},
		{"other subjects", func(c *jetstream.StreamConfig) { c.Subjects = []string{"elsewhere.>"} }, "do not include"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("UNSAFE_%d", i)
			prefix := fmt.Sprintf("unsafe%d.v1", i)
			cfg := publisher.StreamConfig(name, prefix, lifetime, time.Minute, 1)
			tt.mutate(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
			defer cancel()
			if _, err := js.CreateStream(ctx, cfg); err != nil {
				t.Fatalf("CreateStream(%s) error = %v", tt.name, err)
			}
			_, err := publisher.New(ctx, nc, publisher.WithStream(name), publisher.WithSubjectPrefix(prefix),
				publisher.WithMaxTokenLifetime(lifetime), publisher.WithLeeway(time.Minute))
			if !errors.Is(err, publisher.ErrUnsafeStream) {
				t.Fatalf("New(stream with %s) error = %v, want %v", tt.name, err, publisher.ErrUnsafeStream)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), name) {
				t.Fatalf("New(stream with %s) error = %q, want it to name the stream and contain %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestRevokeMethodsReturnReceipts(t *testing.T) {
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc, publisher.WithActor("svc:test"))
	ctx := context.Background()
	now := time.Now()
	tok := jwtrevoke.Token{JTI: "tok-1", Subject: "alice", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(10 * time.Minute)}

	tests := []struct {
		name   string
		revoke func() (publisher.Receipt, error)
		kind   jwtrevoke.Kind
		key    string
	}{
		{"RevokeToken", func() (publisher.Receipt, error) { return p.RevokeToken(ctx, tok, publisher.Reason("logout")) }, jwtrevoke.KindToken, "tok-1"},
		{"RevokeJTI", func() (publisher.Receipt, error) { return p.RevokeJTI(ctx, "tok-2", time.Time{}) }, jwtrevoke.KindToken, "tok-2"},
		{"RevokeSubject", func() (publisher.Receipt, error) { return p.RevokeSubject(ctx, "alice", time.Time{}) }, jwtrevoke.KindSubject, "alice"},
		{"RevokeSession", func() (publisher.Receipt, error) { return p.RevokeSession(ctx, "sess-1", time.Time{}) }, jwtrevoke.KindSession, "sess-1"},
		{"RevokeKey", func() (publisher.Receipt, error) { return p.RevokeKey(ctx, "key-2025", publisher.Actor("admin:bob")) }, jwtrevoke.KindKey, "key-2025"},
		{"RevokeAll", func() (publisher.Receipt, error) { return p.RevokeAll(ctx, time.Time{}) }, jwtrevoke.KindAll, ""},
	}
	var last uint64
	for _, tt := range tests {
		rc, err := tt.revoke()
		if err != nil {
			t.Fatalf("%s() error = %v", tt.name, err)
		}
		if rc.Seq <= last || rc.Duplicate {
			t.Errorf("%s() = Seq %d Duplicate %v, want Seq > %d and not a duplicate", tt.name, rc.Seq, rc.Duplicate, last)
		}
		last = rc.Seq
		if rc.Revocation.Kind != tt.kind || rc.Revocation.Key != tt.key {
			t.Errorf("%s() revocation = %v %q, want %v %q", tt.name, rc.Revocation.Kind, rc.Revocation.Key, tt.kind, tt.key)
		}
		if !strings.HasPrefix(rc.MsgID, "jr1-") {
			t.Errorf("%s() MsgID = %q, want jr1-…", tt.name, rc.MsgID)
		}
		if rc.Revocation.Issued.IsZero() || !rc.Revocation.Expires.After(now) {
			t.Errorf("%s() Issued = %v, Expires = %v, want set and in the future", tt.name, rc.Revocation.Issued, rc.Revocation.Expires)
		}
	}
	if got := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; got != uint64(len(tests)) {
		t.Fatalf("stream holds %d messages, want %d", got, len(tests))
	}

	// A token revocation lasts until the token's exp plus leeway.
	rc, err := p.RevokeToken(ctx, jwtrevoke.Token{JTI: "tok-3", ExpiresAt: now.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(10*time.Minute + time.Minute); !rc.Revocation.Expires.Equal(want) {
		t.Errorf("RevokeToken(exp now+10m) Expires = %v, want exp + leeway = %v", rc.Revocation.Expires, want)
	}
	if rc.Revocation.Actor != "svc:test" {
		t.Errorf("RevokeToken() Actor = %q, want the WithActor default %q", rc.Revocation.Actor, "svc:test")
	}

	// A token without jti cannot be revoked by id.
	if _, err := p.RevokeToken(ctx, jwtrevoke.Token{Subject: "alice"}); !errors.Is(err, jwtrevoke.ErrNoTokenID) {
		t.Fatalf("RevokeToken(no jti) error = %v, want %v", err, jwtrevoke.ErrNoTokenID)
	}
}

func TestRevokeExpiredTokenIsNoOp(t *testing.T) {
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc, publisher.WithLeeway(time.Minute))
	before := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs
	tok := jwtrevoke.Token{JTI: "old", ExpiresAt: time.Now().Add(-2 * time.Minute)}
	rc, err := p.RevokeToken(context.Background(), tok)
	if err != nil || rc != (publisher.Receipt{}) {
		t.Fatalf("RevokeToken(expired 2m ago, leeway 1m) = %+v, %v, want a zero Receipt and nil", rc, err)
	}
	if after := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; after != before {
		t.Fatalf("stream holds %d messages after revoking an expired token, want %d", after, before)
	}
}

func TestRevokeSubjectKeepsNewerCutoff(t *testing.T) {
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc)
	ctx := context.Background()
	newer := time.Now()
	older := newer.Add(-10 * time.Minute)

	rc1, err := p.RevokeSubject(ctx, "alice", newer)
	if err != nil {
		t.Fatal(err)
	}
	rc2, err := p.RevokeSubject(ctx, "alice", older)
	if err != nil {
		t.Fatal(err)
	}
	if rc2.Seq <= rc1.Seq {
		t.Fatalf("second RevokeSubject Seq = %d, want > %d", rc2.Seq, rc1.Seq)
	}
	if !rc2.Revocation.Before.Equal(newer) || !rc2.Revocation.Expires.Equal(rc1.Revocation.Expires) {
		t.Fatalf("RevokeSubject(older) receipt Before = %v, Expires = %v; want the newer cut-off %v and expiry %v",
			rc2.Revocation.Before, rc2.Revocation.Expires, newer, rc1.Revocation.Expires)
	}

	m, err := stream(t, nc, jwtrevoke.DefaultStream).GetLastMsgForSubject(ctx, jwtrevoke.Subject("", jwtrevoke.KindSubject, "alice"))
	if err != nil {
		t.Fatalf("GetLastMsgForSubject() error = %v", err)
	}
	if m.Sequence != rc2.Seq {
		t.Errorf("latest event Seq = %d, want %d", m.Sequence, rc2.Seq)
	}
	var dec jwtrevoke.Decoder
	got, err := dec.Decode(m.Data, time.Now())
	if err != nil {
		t.Fatalf("Decode(stored event) error = %v", err)
	}
	if got.Kind != jwtrevoke.KindSubject || got.Key != "alice" || !got.Before.Equal(newer) {
		t.Fatalf("stored event = %v %q before %v, want sub %q before %v", got.Kind, got.Key, got.Before, "alice", newer)
	}
	// Every event of the key is kept (MaxMsgsPerSubject -1): nothing a
	// later writer publishes can push a valid one out.
	if n := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; n != 2 {
		t.Errorf("stream holds %d messages, want 2 (every event of the key)", n)
	}

	// A later cut-off does replace the earlier one.
	latest := newer.Add(time.Minute)
	rc3, err := p.RevokeSubject(ctx, "alice", latest)
	if err != nil {
		t.Fatal(err)
	}
	if !rc3.Revocation.Before.Equal(latest) {
		t.Fatalf("RevokeSubject(later) Before = %v, want %v", rc3.Revocation.Before, latest)
	}
}

func TestRevokeIdenticalEventIsDuplicate(t *testing.T) {
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc)
	ctx := context.Background()
	now := time.Now()
	r := jwtrevoke.Revocation{
		Kind: jwtrevoke.KindToken, Key: "dup-1",
		Before: now, Expires: now.Add(10 * time.Minute), Issued: now,
		Reason: "retry",
	}
	rc1, err := p.Revoke(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	rc2, err := p.Revoke(ctx, r)
	if err != nil {
		t.Fatalf("second Revoke(same event) error = %v", err)
	}
	if rc1.Duplicate || rc1.Seq == 0 {
		t.Fatalf("first Revoke() = Seq %d Duplicate %v, want Seq > 0, not a duplicate", rc1.Seq, rc1.Duplicate)
	}
	if !rc2.Duplicate || rc2.Seq != rc1.Seq || rc2.MsgID != rc1.MsgID {
		t.Fatalf("second Revoke() = Seq %d Duplicate %v MsgID %s, want Seq %d Duplicate true MsgID %s",
			rc2.Seq, rc2.Duplicate, rc2.MsgID, rc1.Seq, rc1.MsgID)
	}
	if n := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestRevokeBatch(t *testing.T) {
	const n = 5000
	nc := serverConn(t)
	p := testkit.NewPublisher(t, nc)
	exp := time.Now().Add(10 * time.Minute)
	revs := make([]jwtrevoke.Revocation, n)
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("batch-%d", i), Before: time.Now(), Expires: exp}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	start := time.Now()
	rcs, err := p.RevokeBatch(ctx, revs)
	if err != nil {
		t.Fatalf("RevokeBatch(%d) error = %v", n, err)
	}
	t.Logf("RevokeBatch(%d) took %v", n, time.Since(start))
	if len(rcs) != n {
		t.Fatalf("RevokeBatch(%d) returned %d receipts", n, len(rcs))
	}
	seen := make(map[uint64]bool, n)
	for i, rc := range rcs {
		if rc.Seq == 0 || seen[rc.Seq] {
			t.Fatalf("receipt %d: Seq = %d, want > 0 and unique", i, rc.Seq)
		}
		seen[rc.Seq] = true
		if rc.Revocation.Key != revs[i].Key {
			t.Fatalf("receipt %d: Key = %q, want %q (receipts in input order)", i, rc.Revocation.Key, revs[i].Key)
		}
	}
	if got := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; got != n {
		t.Fatalf("stream holds %d messages, want %d", got, n)
	}

	// Retrying the whole batch is safe: each retried event (a new issued
	// time, so a new message ID) is stored beside the first, and agents
	// merge a key's events, so nothing changes but the count.
	rcs, err = p.RevokeBatch(ctx, revs[:100])
	if err != nil {
		t.Fatalf("RevokeBatch(retry) error = %v", err)
	}
	for i, rc := range rcs {
		if rc.Seq == 0 {
			t.Fatalf("retry receipt %d: Seq = 0", i)
		}
	}
	if got := streamInfo(t, nc, jwtrevoke.DefaultStream).State.Msgs; got != n+100 {
		t.Fatalf("after a retry the stream holds %d messages, want %d", got, n+100)
	}
}

func TestSignedEventsVerifiedByAgents(t *testing.T) {
	nc := serverConn(t)
	pubKey, privKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := publisher.New(context.Background(), nc, publisher.WithMaxTokenLifetime(lifetime), publisher.WithSigner("ops-1", privKey))
	if err != nil {
		t.Fatalf("publisher.New(WithSigner) error = %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	start := func(keys jwtrevoke.KeySet) *agent.Agent {
		t.Helper()
		a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(lifetime), agent.WithTrustedKeys(keys), testkit.StillClock())
		if err != nil {
			t.Fatalf("agent.New() error = %v", err)
		}
		t.Cleanup(func() { a.Close() })
		if err := a.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	trusting := start(jwtrevoke.KeySet{"ops-1": pubKey})
	wrongKey := start(jwtrevoke.KeySet{"ops-1": otherPub})
	otherID := start(jwtrevoke.KeySet{"ops-2": pubKey})

	tok := jwtrevoke.Token{JTI: "signed-1", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(10 * time.Minute)}
	rc, err := p.RevokeToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream(t, nc, jwtrevoke.DefaultStream).GetLastMsgForSubject(ctx, jwtrevoke.Subject("", jwtrevoke.KindToken, tok.JTI))
	if err != nil {
		t.Fatal(err)
	}
	if _, kid, err := (&jwtrevoke.Decoder{Keys: jwtrevoke.KeySet{"ops-1": pubKey}}).DecodeSigned(m.Data, time.Now()); err != nil || kid != "ops-1" {
		t.Fatalf("DecodeSigned(stored event) = key ID %q, %v; want ops-1, nil", kid, err)
	}

	for _, a := range []*agent.Agent{trusting, wrongKey, otherID} {
		testkit.WaitApplied(t, a, rc.Seq)
	}
	if r := trusting.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
		t.Errorf("trusting agent: Check(revoked) = %+v, want Revoked, refused", r)
	}
	for _, c := range []struct {
		name   string
		a      *agent.Agent
		reason string
	}{{"wrong key", wrongKey, "bad_signature"}, {"unknown key ID", otherID, "unknown_key_id"}} {
		st := c.a.Stats()
		if st.EventsRejected[c.reason] != 1 || st.EventsApplied != 0 {
			t.Errorf("%s agent: EventsRejected = %v, EventsApplied = %d; want %s = 1 and nothing applied", c.name, st.EventsRejected, st.EventsApplied, c.reason)
		}
		if r := c.a.Check(&tok); r.Verdict != filter.NotRevoked || !r.Allowed {
			t.Errorf("%s agent: Check(token revoked by an untrusted event) = %+v, want NotRevoked, allowed", c.name, r)
		}
	}
}

func TestCollector(t *testing.T) {
	p := testkit.NewPublisher(t, serverConn(t))
	ctx := context.Background()
	c := p.Collector()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("CollectAndLint() = %v, %v; want no problems", problems, err)
	}
	if _, err := p.RevokeSubject(ctx, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RevokeJTI(ctx, "j-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RevokeBatch(ctx, []jwtrevoke.Revocation{
		{Kind: jwtrevoke.KindToken, Key: "b-1", Before: time.Now(), Expires: time.Now().Add(time.Minute)},
		{Kind: jwtrevoke.KindToken, Key: "b-2", Before: time.Now(), Expires: time.Now().Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	mfs := testkit.Gather(t, c)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jwtrevoke_revocations_published_total", []string{"kind", "sub"}, 1},
		{"jwtrevoke_revocations_published_total", []string{"kind", "jti"}, 3},
		{"jwtrevoke_revocations_published_total", []string{"kind", "all"}, 0},
		{"jwtrevoke_publish_errors_total", nil, 0},
		{"jwtrevoke_publish_batch_size", nil, 1},
	} {
		if got, ok := testkit.MetricValue(mfs, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	// 5 kinds + duplicates, errors, retries, batch size.
	if n := testutil.CollectAndCount(c); n != 5+3+1 {
		t.Errorf("CollectAndCount() = %d, want %d", n, 5+3+1)
	}
}

// TestWithSignerKeepsTheCause: a bad signing key is ErrBadOption and,
// through it, the signer's own sentinel.
func TestWithSignerKeepsTheCause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	_, err := publisher.New(ctx, serverConn(t), publisher.WithSigner("ops-1", ed25519.PrivateKey("short")))
	if !errors.Is(err, publisher.ErrBadOption) || !errors.Is(err, jwtrevoke.ErrBadSigningKey) {
		t.Fatalf("New(WithSigner(short key)) = %v, want both ErrBadOption and jwtrevoke.ErrBadSigningKey", err)
	}
}
