package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestAgentFollowsTheStreamContract: the publisher that creates the stream
// writes its contract into the stream; an agent without options follows it
// and applies events kept as long as the contract says (an agent assuming
// the 24 h default dropped these as too far ahead), and an agent whose
// option contradicts it is refused at New with both values named.
func TestAgentFollowsTheStreamContract(t *testing.T) {
	s := testkit.NATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := publisher.New(ctx, testkit.Connect(t, s.ClientURL()), publisher.WithMaxTokenLifetime(72*time.Hour), publisher.WithLeeway(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: jwtrevoke.DefaultSubjectPrefix, MaxTokenLifetime: 72 * time.Hour, Leeway: 2 * time.Minute}
	if got := pub.Contract(); got != want {
		t.Errorf("publisher Contract() = %+v, want %+v", got, want)
	}
	rc, err := pub.RevokeSubject(ctx, "carol", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	a, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()))
	if err != nil {
		t.Fatalf("agent.New() on a 72h stream error = %v", err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.Contract(); got != want {
		t.Errorf("agent Contract() = %+v, want %+v", got, want)
	}
	tok := jwtrevoke.Token{JTI: "j", Subject: "carol", IssuedAt: rc.Revocation.Before.Add(-time.Second), ExpiresAt: time.Now().Add(70 * time.Hour)}
	if res := a.Check(&tok); res.Allowed {
		t.Errorf("Check(token under a 72h subject revocation) = %+v, want refused", res)
	}
	for why, n := range a.Stats().EventsRejected {
		if n != 0 {
			t.Errorf("Stats().EventsRejected[%s] = %d, want 0: a valid event was dropped", why, n)
		}
	}

	for _, tt := range []struct {
		opt  agent.Option
		want []string
	}{
		{agent.WithMaxTokenLifetime(time.Hour), []string{"1h0m0s", "72h0m0s"}},
		{agent.WithSubjectPrefix("other.v1"), []string{"other.v1", jwtrevoke.DefaultSubjectPrefix}},
	} {
		b, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()), tt.opt)
		if err == nil {
			b.Close()
		}
		if !errors.Is(err, jwtrevoke.ErrContract) {
			t.Errorf("agent.New(contradicting option) error = %v, want ErrContract", err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("agent.New(contradicting option) error = %q, want it to name %q", err, w)
			}
		}
	}
	// The stream's own value is not a contradiction.
	c, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()), agent.WithMaxTokenLifetime(72*time.Hour))
	if err != nil {
		t.Errorf("agent.New(WithMaxTokenLifetime(the stream's)) error = %v", err)
	} else {
		c.Close()
	}
	// A publisher contradicting it is refused too.
	if _, err := publisher.New(ctx, testkit.Connect(t, s.ClientURL()), publisher.WithMaxTokenLifetime(time.Hour)); !errors.Is(err, jwtrevoke.ErrContract) {
		t.Errorf("publisher.New(WithMaxTokenLifetime(1h)) on a 72h stream error = %v, want ErrContract", err)
	}
}

// TestAgentOnAStreamWithoutContract: a stream made without the contract
// in its metadata (by hand, or by an older version) is still used, with the
// agent's own options.
func TestAgentOnAStreamWithoutContract(t *testing.T) {
	s := testkit.NATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc := testkit.Connect(t, s.ClientURL())
	cfg := publisher.StreamConfig(jwtrevoke.DefaultStream, jwtrevoke.DefaultSubjectPrefix, time.Hour, time.Minute, 1)
	cfg.Metadata = nil
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	a := testkit.NewAgent(t, nc) // WithMaxTokenLifetime(time.Hour)
	if got := a.Contract().MaxTokenLifetime; got != time.Hour {
		t.Errorf("Contract().MaxTokenLifetime = %v, want the agent's 1h", got)
	}
	// Half a contract is refused rather than guessed at.
	cfg.Name, cfg.Subjects = "HALF", []string{"half.>"}
	cfg.Metadata = map[string]string{jwtrevoke.MetaMaxTokenLifetime: "3600000"}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if b, err := agent.New(ctx, nc, agent.WithStream("HALF")); !errors.Is(err, jwtrevoke.ErrContract) {
		if b != nil {
			b.Close()
		}
		t.Errorf("agent.New(stream with half a contract) error = %v, want ErrContract", err)
	}
}
