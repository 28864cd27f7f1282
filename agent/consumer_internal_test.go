package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestLateDeliveryAfterRewindIsDropped: a consumer that has been replaced
// can still call the agent's handler — nats.go does not wait for a
// callback in flight when it stops a subscription, and an ordered consumer
// that was resetting itself when it was stopped can deliver once more. A
// rewind (the stream recreated) resets the applied sequence and replays
// the new stream from its first event; a late delivery of the new stream's
// last event from the old consumer must not move the applied sequence past
// the events the new consumer has yet to deliver, or they are never
// applied (fault F11 lost the first 500 revocations of a recreated stream
// that way). This replays that delivery by hand, right after the restart.
func TestLateDeliveryAfterRewindIsDropped(t *testing.T) {
	ctx, nc := serverAndConn(t)
	revokeN := func(p *publisher.Publisher, prefix string, n int) {
		t.Helper()
		for i := range n {
			if _, err := p.RevokeJTI(ctx, fmt.Sprintf("%s-%d", prefix, i), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	revokeN(pub, "old", 5)
	// A staleness bound of an hour keeps the prober (and its own rewind
	// check) out of the way: the test restarts the consumer itself.
	a, err := New(ctx, nc, WithMaxTokenLifetime(time.Hour), WithStaleness(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, jwtrevoke.DefaultStream); err != nil {
		t.Fatal(err)
	}
	for pub, err = publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour)); err != nil; pub, err = publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour)) {
		if ctx.Err() != nil {
			t.Fatalf("recreating the stream: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the server may still be removing the old store
	}
	const n = 5
	revokeN(pub, "new", n)
	oc, err := js.OrderedConsumer(ctx, jwtrevoke.DefaultStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: n,
	})
	if err != nil {
		t.Fatal(err)
	}
	last, err := oc.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}

	a.applyMu.Lock()
	stale := a.gen
	a.applyMu.Unlock()
	if err := a.startConsumer(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	a.handle(stale, last) // the old consumer's late delivery

	for i := range n {
		tok := jwtrevoke.Token{JTI: fmt.Sprintf("new-%d", i), ExpiresAt: time.Now().Add(time.Hour)}
		for {
			r := a.Check(&tok)
			if r.Verdict == filter.Revoked && !r.Allowed {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("Check(new-%d) = %+v after the rewind (LastApplied %d), want Revoked: the late delivery skipped it", i, r, a.LastApplied())
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 5 {
		tok := jwtrevoke.Token{JTI: fmt.Sprintf("old-%d", i), ExpiresAt: time.Now().Add(time.Hour)}
		if r := a.Check(&tok); r.Verdict != filter.Revoked {
			t.Errorf("Check(old-%d) = %+v after the rewind, want still Revoked", i, r)
		}
	}
}

// stuckConsumer stands for an ordered consumer that cannot stop: nats.go's
// holds its lock through a reset, whose requests on a dead link wait ten
// seconds each for an answer.
type stuckConsumer struct{ closed chan struct{} }

func (c stuckConsumer) Stop()                   { <-c.closed }
func (c stuckConsumer) Drain()                  { <-c.closed }
func (c stuckConsumer) Closed() <-chan struct{} { return c.closed }

// TestCloseDoesNotWaitForAStuckConsumer: Close bounds its wait for the
// consumer (closeWait), says so, and applies nothing after it returns.
func TestCloseDoesNotWaitForAStuckConsumer(t *testing.T) {
	ctx, nc := serverAndConn(t)
	if _, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	a, err := New(ctx, nc, WithMaxTokenLifetime(time.Hour), WithLogger(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	stuck := stuckConsumer{closed: make(chan struct{})}
	defer close(stuck.closed)
	a.mu.Lock()
	real := a.cc
	a.cc = stuck
	a.mu.Unlock()
	defer real.Stop()
	a.applyMu.Lock()
	gen := a.gen
	a.applyMu.Unlock()

	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close waits for a consumer that cannot stop")
	}
	logMu.Lock()
	said := logs.String()
	logMu.Unlock()
	if !strings.Contains(said, "did not stop in time") {
		t.Errorf("Close did not say the consumer was left to stop; log:\n%s", said)
	}
	a.applyMu.Lock()
	moved := a.gen != gen
	a.applyMu.Unlock()
	if !moved {
		t.Error("deliveries of the consumer Close left behind would still be applied (the generation did not move)")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// serverAndConn starts a server on a port it picks and connects to it;
// the context ends after a minute. The agent's own package cannot use
// internal/testkit (it imports the agent).
func serverAndConn(t *testing.T) (context.Context, *nats.Conn) {
	t.Helper()
	s, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return ctx, nc
}
