package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// leastPrivilege is the accounts block of the server the permission test
// starts: one account, three users. The publisher may publish revocation
// subjects and use its stream's JetStream API (info, create, read the
// latest event of a key) and hear the agents' status reports; agents may
// read the stream (info, ordered consumers, direct gets) and report their
// status, and nothing else; admin may do anything.
const leastPrivilege = `
accounts {
  REVOKE {
    jetstream: enabled
    users: [
      { user: admin, password: admin-secret }
      { user: publisher, password: publisher-secret, permissions: {
          publish: { allow: [
            "jwtrevoke.v1.>",
            "$JS.API.INFO",
            "$JS.API.STREAM.INFO.JWTREVOKE",
            "$JS.API.STREAM.CREATE.JWTREVOKE",
            "$JS.API.STREAM.MSG.GET.JWTREVOKE",
            "$JS.API.DIRECT.GET.JWTREVOKE.>",
            "jwtrevoke_status.JWTREVOKE.*"
          ] }
          subscribe: { allow: ["_INBOX.>", "jwtrevoke_status.JWTREVOKE.*"] }
      } }
      { user: agent, password: agent-secret, permissions: {
          publish: {
            allow: [
              "$JS.API.INFO",
              "$JS.API.STREAM.INFO.JWTREVOKE",
              "$JS.API.CONSUMER.CREATE.JWTREVOKE.>",
              "$JS.API.CONSUMER.INFO.JWTREVOKE.>",
              "$JS.API.CONSUMER.DELETE.JWTREVOKE.>",
              "$JS.API.CONSUMER.MSG.NEXT.JWTREVOKE.>",
              "$JS.API.STREAM.MSG.GET.JWTREVOKE",
              "$JS.API.DIRECT.GET.JWTREVOKE",
              "$JS.API.DIRECT.GET.JWTREVOKE.>",
              "jwtrevoke_status.JWTREVOKE.*"
            ]
            deny: ["jwtrevoke.v1.>"]
          }
          subscribe: { allow: ["_INBOX.>"] }
      } }
    ]
  }
}
`

// violations collects the permission violations a connection is told of.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// await waits for a violation naming subject: the server sends it at
// once, nats.go delivers it on its callback goroutine. 10 s is thousands of
// times what that takes.
func (v *violations) await(subject string) bool {
	_, ok := waitFor(10*time.Second, func() bool { return v.saw(subject) })
	return ok
}

// reset forgets the violations seen so far, so that the next await is
// answered by the next call only.
func (v *violations) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = nil
}

func (v *violations) saw(subject string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, subject) {
			return true
		}
	}
	return false
}

// TestLeastPrivilege is hostile input 1: with the agents' credentials, a
// revocation cannot be published — the server refuses it — nor the stream
// be deleted, purged or changed; the publisher's credentials cannot leave
// the revocation subjects and its stream's API. Meanwhile both roles work.
func TestLeastPrivilege(t *testing.T) {
	parallel(t)
	r := report(t, "H01", "agent credentials publish", "publishing, deleting, purging, updating with the agents' (and the publisher's) least-privilege users")
	srv := server(t, natsproc.Options{Accounts: leastPrivilege})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	as := func(user, pass string, v *violations) *nats.Conn {
		return dial(t, srv.URL(), nats.UserInfo(user, pass), nats.ErrorHandler(v.handler))
	}
	var pv, av violations
	pubNC := as("publisher", "publisher-secret", &pv)
	pub := testkit.NewPublisher(t, pubNC) // creates the stream with the publisher's rights
	tr := &tracker{}
	agentNC := as("agent", "agent-secret", &av)
	a := tr.mustStart(t, "least-privilege agent", agentNC)
	admin := dial(t, srv.URL(), nats.UserInfo("admin", "admin-secret"))

	// Both roles work: a revocation goes through the publisher's user and
	// reaches the agent's; settling by direct get works too.
	log := &ackLog{}
	rc, err := pub.RevokeJTI(ctx, "lp-1", tokenExp)
	if err != nil {
		t.Fatalf("publisher user: RevokeJTI error = %v", err)
	}
	log.add(jtiToken("lp-1"), rc, time.Now())
	if _, err = pub.RevokeSubject(ctx, "lp-user", time.Now().Add(-time.Minute)); err != nil {
		t.Fatalf("publisher user: RevokeSubject error = %v", err)
	}
	// The key has an event now: this one's guarded write is refused and it
	// reads the key's latest event to merge with (direct get).
	rc, err = pub.RevokeSubject(ctx, "lp-user", time.Time{})
	if err != nil {
		t.Fatalf("publisher user: RevokeSubject of a revoked key error = %v", err)
	}
	log.add(jwtrevoke.Token{JTI: "lp-sub", Subject: "lp-user", IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: tokenExp}, rc, time.Now())
	lost, _ := settle([]*node{a}, log, 30*time.Second)
	// The agent's user can fetch one key's latest event (how an agent
	// settles an Unknown verdict).
	ast, err := testkit.JetStream(t, agentNC).Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatalf("agent user: Stream() error = %v", err)
	}
	if _, err := ast.GetLastMsgForSubject(ctx, jwtrevoke.Subject("", jwtrevoke.KindToken, "lp-1")); err != nil {
		t.Errorf("agent user: direct get of a key's latest event error = %v", err)
	}

	before := streamState(t, admin)
	js := testkit.JetStream(t, agentNC)
	now := time.Now()
	ev, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "forged-by-agent", Before: now, Expires: tokenExp, Issued: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	subj := jwtrevoke.Subject("", jwtrevoke.KindToken, "forged-by-agent")
	refused := map[string]string{}
	// A forbidden publish or subscription is dropped by the server, which
	// tells the connection (-ERR "Permissions Violation …"); the call itself
	// only times out. The violation is the proof of refusal, and nats.go
	// hands it to the error handler asynchronously: wait for it, with a
	// bound far beyond the milliseconds it takes. A call that timed out with
	// no violation reported is not counted as refused.
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, perr := js.Publish(pctx, subj, ev)
	pcancel()
	refused["agent: JetStream publish of a revocation"] = result(perr, av.await(subj))
	av.reset()
	if err := agentNC.Publish(subj, ev); err != nil {
		t.Fatal(err)
	}
	agentNC.Flush()
	refused["agent: core publish of a revocation"] = result(nil, av.await(subj))
	for _, c := range []struct {
		what, subject string
		call          func(ctx context.Context) error
	}{
		{"agent: delete the stream", "$JS.API.STREAM.DELETE.JWTREVOKE", func(ctx context.Context) error { return js.DeleteStream(ctx, jwtrevoke.DefaultStream) }},
		{"agent: purge the stream", "$JS.API.STREAM.PURGE.JWTREVOKE", func(ctx context.Context) error {
			s, err := js.Stream(ctx, jwtrevoke.DefaultStream)
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		}},
		{"agent: update the stream", "$JS.API.STREAM.UPDATE.JWTREVOKE", func(ctx context.Context) error {
			cfg := publisher.StreamConfig(jwtrevoke.DefaultStream, "", lifetime, time.Minute, 1)
			cfg.MaxAge = time.Second
			_, err := js.UpdateStream(ctx, cfg)
			return err
		}},
		{"publisher: publish outside the revocation subjects", "elsewhere.v1.x", func(ctx context.Context) error {
			_, err := testkit.JetStream(t, pubNC).Publish(ctx, "elsewhere.v1.x", ev)
			return err
		}},
		{"publisher: delete the stream", "$JS.API.STREAM.DELETE.JWTREVOKE", func(ctx context.Context) error {
			return testkit.JetStream(t, pubNC).DeleteStream(ctx, jwtrevoke.DefaultStream)
		}},
		{"publisher: create another stream", "$JS.API.STREAM.CREATE.OTHER", func(ctx context.Context) error {
			_, err := testkit.JetStream(t, pubNC).CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}})
			return err
		}},
		{"publisher: read revocations by subscribing", "jwtrevoke.v1.>", func(ctx context.Context) error {
			sub, err := pubNC.SubscribeSync("jwtrevoke.v1.>")
			if err != nil {
				return err
			}
			defer sub.Unsubscribe()
			_, err = sub.NextMsg(500 * time.Millisecond)
			return err
		}},
	} {
		v := &av
		if strings.HasPrefix(c.what, "publisher") {
			v = &pv
		}
		v.reset()
		cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := c.call(cctx)
		ccancel()
		refused[c.what] = result(err, err != nil && v.await(c.subject))
	}
	// Even admin cannot delete one message: the stream denies deletes.
	as2, err := testkit.JetStream(t, admin).Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	derr := as2.DeleteMsg(ctx, 1)
	// The server answers this one with an API error, not a violation
	// (nats.go keeps only its text under ErrMsgDeleteUnsuccessful).
	refused["admin: delete a revocation message"] = result(derr, errors.Is(derr, jetstream.ErrMsgDeleteUnsuccessful))

	after := streamState(t, admin)
	tok := jtiToken("forged-by-agent")
	forgedApplied := a.a.Check(&tok).Verdict == filter.Revoked
	r.acked, r.lost = 2, sum(lost)
	var lines []string
	for what, res := range refused {
		lines = append(lines, what+": "+res)
		if !strings.HasPrefix(res, "refused") {
			t.Errorf("%s: %s, want refused by the server", what, res)
		}
	}
	r.note("both roles work (publisher user revoked, agent user replayed, tailed and direct-got); stream seq %d before the attempts, %d after; forged event applied: %v",
		before.LastSeq, after.LastSeq, forgedApplied)
	r.note("%s", strings.Join(sortedStrings(lines), "; "))
	if after.LastSeq != before.LastSeq || forgedApplied {
		t.Errorf("stream seq %d → %d, forged applied %v: the agent's publish got through", before.LastSeq, after.LastSeq, forgedApplied)
	}
	if lost[0] > 0 {
		t.Errorf("least-privilege agent did not apply the publisher's revocations")
	}
}

// result says how a forbidden call ended: refused, as proven by the
// server (a permission violation reported to the connection, or an API
// error), with no answer (the call failed but nothing says the server
// refused it: a slow server looks the same), or accepted.
func result(err error, refusedByServer bool) string {
	switch {
	case refusedByServer && err != nil:
		return fmt.Sprintf("refused (%s; the call failed: %s)", refusal(err), shortErr(err))
	case refusedByServer:
		return "refused (permissions violation)"
	case err != nil:
		return fmt.Sprintf("NO ANSWER: the call failed (%s) but the server reported no refusal", shortErr(err))
	}
	return "ACCEPTED"
}

func refusal(err error) string {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		return "the server's API error"
	}
	return "permissions violation"
}
