// Package deploy_test proves the deployment files in deploy/: it boots the
// three-node NATS cluster from deploy/nats/*.conf and runs revocations
// through it with the configured users, checks that each user can do what
// its role needs and nothing more, and checks that the compose file,
// Kubernetes manifests, Helm values and Prometheus rules agree with the
// configs and with the metrics the library exports.
package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

const lifetime = time.Hour

var hmacKey = []byte("deploy-test-hmac-secret-0123456789abcdef")

func mint(t *testing.T, jti, sub string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": jti, "sub": sub, "iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix(),
	}).SignedString(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCluster boots deploy/nats/nats-{1,2,3}.conf and walks one revocation
// deployment through it: the publisher user creates the R3 stream and
// revokes, an agent connected as the agent user replays and tails it and
// refuses the revoked tokens, and every user is refused what its role may
// not do.
func TestCluster(t *testing.T) {
	start := time.Now()
	c := bootCluster(t, nodeFiles(t))
	t.Logf("three nodes up with a meta leader in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), clusterTestTimeout)
	defer cancel()

	for i, s := range c.servers {
		if code, err := healthz(ctx, s, "?js-enabled-only=true"); err != nil || code != http.StatusOK {
			t.Fatalf("node %d monitoring /healthz?js-enabled-only=true = %d, %v; want 200", i+1, code, err)
		}
		o := c.opts[i]
		if !o.SyncAlways {
			t.Errorf("node %d: jetstream sync_interval is not always", i+1)
		}
		if o.Cluster.Name == "" || o.Cluster.Username == "" {
			t.Errorf("node %d: cluster name %q, route user %q; want both set", i+1, o.Cluster.Name, o.Cluster.Username)
		}
	}

	// The publisher user creates the stream, replicated on all three nodes.
	pubNC := c.connect(t, "publisher")
	pub, err := publisher.New(ctx, pubNC.Conn, publisher.WithReplicas(3), publisher.WithMaxTokenLifetime(lifetime))
	if err != nil {
		t.Fatalf("publisher.New as user publisher: %v", err)
	}
	js, err := jetstream.New(pubNC.Conn)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, ctx, st, 2)

	// A revocation stored before the agent starts: the agent replays it.
	replayed := mint(t, "jti-before-agent", "alice")
	if _, err := pub.RevokeJTI(ctx, "jti-before-agent", time.Now().Add(30*time.Minute)); err != nil {
		t.Fatalf("RevokeJTI as publisher: %v", err)
	}

	agentNC := c.connect(t, "agent")
	applied := make(chan jwtrevoke.Revocation, 16)
	a, err := agent.New(ctx, agentNC.Conn, agent.WithMaxTokenLifetime(lifetime),
		agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) { applied <- r }))
	if err != nil {
		t.Fatalf("agent.New as user agent: %v", err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mw, err := verify.Middleware(a, keyset.Keyfunc(func(*jwt.Token) (any, error) { return hmacKey, nil }), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	api := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	call := func(tok string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := call(replayed); code != http.StatusUnauthorized || !strings.Contains(body, `"revoked"`) {
		t.Errorf("token revoked before the agent started: %d %s, want 401 revoked", code, body)
	}

	// A revocation while the agent runs: it arrives live.
	live := mint(t, "jti-live", "bob")
	if code, body := call(live); code != http.StatusOK {
		t.Fatalf("fresh token: %d %s, want 200", code, body)
	}
	// Confirmed: the agent user reports what it applied, the publisher's
	// user hears it.
	rc, err := pub.RevokeSubject(ctx, "bob", time.Time{}, publisher.Reason("password change"), publisher.Confirm(1, time.Minute))
	if err != nil {
		t.Fatalf("RevokeSubject as publisher, confirmed by the agent: %v", err)
	}
	if rc.Confirmed < 1 || a.LastApplied() < rc.Seq {
		t.Errorf("confirmed by %d agents, the agent applied %d of %d", rc.Confirmed, a.LastApplied(), rc.Seq)
	}
	waitApplied(t, ctx, applied, jwtrevoke.KindSubject, "bob")
	if code, body := call(live); code != http.StatusUnauthorized || !strings.Contains(body, `"revoked"`) {
		t.Errorf("token of a subject revoked live: %d %s, want 401 revoked", code, body)
	}

	// Snapshots: the publisher's user writes one, an agent's starts from it.
	snap, err := snapshot.Take(ctx, js, snapshot.WithReplicas(3))
	if err != nil {
		t.Fatalf("snapshot.Take as publisher: %v", err)
	}
	snapNC := c.connect(t, "agent")
	fromSnap, err := agent.New(ctx, snapNC.Conn, agent.WithMaxTokenLifetime(lifetime))
	if err != nil {
		t.Fatalf("agent.New from a snapshot as user agent: %v", err)
	}
	if err := fromSnap.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if st := fromSnap.Stats(); st.SnapshotSeq != snap.Seq {
		t.Errorf("agent started from snapshot %d (loads %v), want %d", st.SnapshotSeq, st.SnapshotLoads, snap.Seq)
	}
	if res := fromSnap.Check(&jwtrevoke.Token{JTI: "x", Subject: "bob", IssuedAt: time.Now().Add(-time.Minute)}); res.Allowed {
		t.Errorf("bob's token at the agent started from the snapshot: %+v, want refused", res)
	}
	fromSnap.Close()

	before, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("agent may not publish a revocation", func(t *testing.T) {
		// A connection of its own, so that the refusals below stay off the
		// agent's connection, which must see none.
		intruder := c.connect(t, "agent")
		ijs, err := jetstream.New(intruder.Conn)
		if err != nil {
			t.Fatal(err)
		}
		r := jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "carol", Before: time.Now(), Expires: time.Now().Add(lifetime), Issued: time.Now()}
		data, err := jwtrevoke.Encode(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		subj := jwtrevoke.Subject(jwtrevoke.DefaultSubjectPrefix, r.Kind, r.Key)
		refused(t, ctx, intruder, "agent user: JetStream publish to "+subj, `Publish to "`+subj+`"`, func(ctx context.Context) error {
			_, err := ijs.Publish(ctx, subj, data)
			return err
		})
		// Nor write a snapshot that other agents would start from.
		obj, err := ijs.ObjectStore(ctx, snapshot.DefaultBucket)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, ctx, intruder, "agent user: writing a snapshot", `Publish to "$O.`+snapshot.DefaultBucket, func(ctx context.Context) error {
			_, err := obj.PutBytes(ctx, "snapshot-99999999999999999999", []byte("planted"))
			return err
		})
		// Nor report for another stream, nor hear the other agents.
		if err := intruder.Publish("jwtrevoke_status.OTHER.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		intruder.Flush()
		waitPermissionError(t, ctx, intruder, `Publish to "jwtrevoke_status.OTHER.x"`)
		if _, err := intruder.SubscribeSync(jwtrevoke.StatusSubjects(jwtrevoke.DefaultStream)); err != nil {
			t.Fatal(err)
		}
		intruder.Flush()
		waitPermissionError(t, ctx, intruder, `Subscription to "jwtrevoke_status.JWTREVOKE.*"`)
		// Nor may it read the events outside the JetStream API.
		if _, err := intruder.SubscribeSync("jwtrevoke.v1.>"); err != nil {
			t.Fatal(err)
		}
		intruder.Flush()
		waitPermissionError(t, ctx, intruder, `Subscription to "jwtrevoke.v1.>"`)

		after, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.State.LastSeq != before.State.LastSeq || after.State.Msgs != before.State.Msgs {
			t.Errorf("stream after the agent's attempts: last seq %d, %d msgs; want unchanged %d, %d",
				after.State.LastSeq, after.State.Msgs, before.State.LastSeq, before.State.Msgs)
		}
		if res := a.Check(&jwtrevoke.Token{JTI: "x", Subject: "carol", IssuedAt: time.Now().Add(-time.Minute)}); !res.Allowed {
			t.Errorf("carol after the agent's forged revocation: %+v, want allowed", res)
		}
	})

	t.Run("nobody may delete or purge the stream", func(t *testing.T) {
		type op struct {
			name, subject string
			do            func(context.Context, jetstream.JetStream) error
		}
		stream := func(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
			return js.Stream(ctx, jwtrevoke.DefaultStream)
		}
		ops := []op{
			{"delete the stream", "$JS.API.STREAM.DELETE.JWTREVOKE", func(ctx context.Context, js jetstream.JetStream) error {
				return js.DeleteStream(ctx, jwtrevoke.DefaultStream)
			}},
			{"purge the stream", "$JS.API.STREAM.PURGE.JWTREVOKE", func(ctx context.Context, js jetstream.JetStream) error {
				s, err := stream(ctx, js)
				if err != nil {
					return err
				}
				return s.Purge(ctx)
			}},
			{"delete a message", "$JS.API.STREAM.MSG.DELETE.JWTREVOKE", func(ctx context.Context, js jetstream.JetStream) error {
				s, err := stream(ctx, js)
				if err != nil {
					return err
				}
				return s.DeleteMsg(ctx, before.State.FirstSeq)
			}},
		}
		update := op{"shorten MaxAge", "$JS.API.STREAM.UPDATE.JWTREVOKE", func(ctx context.Context, js jetstream.JetStream) error {
			cfg := st.CachedInfo().Config
			cfg.MaxAge = time.Minute
			_, err := js.UpdateStream(ctx, cfg)
			return err
		}}
		for _, tc := range []struct {
			user string
			ops  []op
		}{
			{"agent", append(ops, update)},
			{"publisher", append(ops, update)},
			{"admin", ops}, // admin may update the stream (e.g. to R3), not empty it
		} {
			t.Run(tc.user, func(t *testing.T) {
				t.Parallel()
				nc := c.connect(t, tc.user)
				ujs, err := jetstream.New(nc.Conn)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range tc.ops {
					refused(t, ctx, nc, "user "+tc.user+": "+o.name, `Publish to "`+o.subject+`"`, func(ctx context.Context) error {
						return o.do(ctx, ujs)
					})
				}
			})
		}
	})
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != before.State.Msgs || info.Config.MaxAge != before.Config.MaxAge {
		t.Fatalf("stream after the attempts: %v; want it as before", err)
	}

	t.Run("admin and sys can inspect", func(t *testing.T) {
		adminNC := c.connect(t, "admin")
		ajs, err := jetstream.New(adminNC.Conn)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ajs.Stream(ctx, jwtrevoke.DefaultStream)
		if err != nil {
			t.Fatalf("admin: stream info: %v", err)
		}
		n := 0
		for range s.ListConsumers(ctx).Info() {
			n++
		}
		if n == 0 {
			t.Errorf("admin: consumer list is empty, want the agent's ordered consumer")
		}
		if _, err := ajs.AccountInfo(ctx); err != nil {
			t.Errorf("admin: account info: %v", err)
		}
		sysNC := c.connect(t, "sys")
		if _, err := sysNC.Request("$SYS.REQ.SERVER.PING.JSZ", nil, time.Minute); err != nil { // answered in milliseconds; the bound is a hang guard
			t.Errorf("sys: $SYS.REQ.SERVER.PING.JSZ: %v", err)
		}
	})

	t.Run("runbook nats CLI commands", func(t *testing.T) {
		runbookCommands(t, c)
	})

	// The allow lists are complete: everything the publisher and the agent
	// did above (create, publish, merge, replay, tail, probe, settle) drew
	// no permission violation.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		nc   *conn
	}{{"publisher", pubNC}, {"agent", agentNC}, {"agent (from a snapshot)", snapNC}} {
		for _, err := range u.nc.asyncErrors() {
			t.Errorf("user %s: server reported %v during normal operation", u.name, err)
		}
	}
	// A context of its own: the runbook subtest waited for the nats CLI's
	// install, which may have taken longer than ctx allows.
	hctx, hcancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer hcancel()
	for i, s := range c.servers {
		if code, err := healthz(hctx, s, ""); err != nil || code != http.StatusOK {
			t.Errorf("node %d /healthz = %d, %v; want 200 with the stream in place", i+1, code, err)
		}
	}
}

// waitReplicas waits until the stream has a leader and n current replicas.
func waitReplicas(t *testing.T, ctx context.Context, st jetstream.Stream, n int) {
	t.Helper()
	var info *jetstream.StreamInfo
	for ctx.Err() == nil {
		var err error
		info, err = st.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == n {
			current := 0
			for _, r := range info.Cluster.Replicas {
				if r.Current {
					current++
				}
			}
			if current == n {
				if info.Config.Replicas != n+1 {
					t.Fatalf("stream replicas = %d, want %d", info.Config.Replicas, n+1)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stream never had a leader and %d current replicas: %+v", n, info)
}

func waitApplied(t *testing.T, ctx context.Context, ch <-chan jwtrevoke.Revocation, k jwtrevoke.Kind, key string) {
	t.Helper()
	for {
		select {
		case r := <-ch:
			if r.Kind == k && r.Key == key {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the agent never applied the %v revocation of %q", k, key)
		}
	}
}

// clusterTestTimeout bounds TestCluster after the boot. Each step ends at
// its event (an answer, a replica caught up, an event applied, a
// permissions violation reported); the whole test takes a few seconds on
// an idle machine, and the bound only turns a hang into a failure.
const clusterTestTimeout = 3 * time.Minute

// refused runs do, a request that the server must refuse for want of a
// permission, and checks that it is refused: the server reports a
// permissions violation mentioning violation on the connection, and do does
// not succeed. A refused request gets no answer (the client only learns of
// the refusal from the server's error on the connection), so do is
// cancelled once the violation has been reported, not after a timeout
// that a slow machine could spend before the request is even sent.
func refused(t *testing.T, ctx context.Context, c *conn, what, violation string, do func(context.Context) error) {
	t.Helper()
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- do(dctx) }()
	for {
		if permissionError(c, violation) {
			cancel()
			if done != nil {
				if err := <-done; err == nil {
					t.Errorf("%s succeeded, want refused", what)
				}
			}
			return
		}
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s succeeded, want refused", what)
				return
			}
			done = nil // failed on its own: still wait for the violation
		case <-ctx.Done():
			t.Errorf("%s: no permissions violation for %s; errors reported: %v", what, violation, c.asyncErrors())
			if done != nil {
				<-done
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitPermissionError waits, until ctx ends, for the server to report a
// permissions violation mentioning what on the connection.
func waitPermissionError(t *testing.T, ctx context.Context, c *conn, what string) {
	t.Helper()
	for !permissionError(c, what) {
		select {
		case <-ctx.Done():
			t.Errorf("no permissions violation for %s; errors reported: %v", what, c.asyncErrors())
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// permissionError reports whether the server has reported a permissions
// violation mentioning what on the connection.
func permissionError(c *conn, what string) bool {
	for _, err := range c.asyncErrors() {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), what) {
			return true
		}
	}
	return false
}
