package snapshot_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// TestTwoSnapshotters: two snapshotters tail one stream and write into
// one bucket at once; every snapshot either writes is whole, and an agent
// started after them begins from the newest and answers for everything.
func TestTwoSnapshotters(t *testing.T) {
	pub, url := newTestEnv(t)
	nc := testkit.Connect(t, url)
	js := testkit.JetStream(t, nc)
	revokeN(t, pub, "start", 100)
	// Each follows the stream once: a warning means it failed and started
	// over, which would hide a broken tail behind full replays.
	warnings := &warnCounter{}
	var relisted atomic.Int64
	snapshot.SetOnListRetry(func() { relisted.Add(1) })
	defer snapshot.SetOnListRetry(func() {})
	defer func() {
		if n := relisted.Load(); n > 0 {
			t.Logf("bucket listings made again after running out of time: %d", n)
		}
	}()
	var ss []*snapshot.Snapshotter
	for range 2 {
		s, err := snapshot.NewSnapshotter(js, snapshot.WithInterval(20*time.Millisecond), snapshot.WithLogger(slog.New(warnings)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss = append(ss, s)
	}
	var last uint64
	for round := range 5 {
		last = revokeN(t, pub, "round-"+string(rune('a'+round)), 200)
	}
	for i, s := range ss {
		caughtUp := func() bool { e, _ := s.Last(); return e.Seq >= last }
		for deadline := time.Now().Add(testkit.Patience); !caughtUp() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !caughtUp() {
			e, err := s.Last()
			t.Fatalf("snapshotter %d not caught up to %d after %v: last snapshot at %d, last error %v; %d warnings, the last %v",
				i, last, testkit.Patience, e.Seq, err, warnings.n.Load(), warnings.last.Load())
		}
	}
	store, err := snapshot.Open(context.Background(), js, snapshot.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || len(entries) > 3 || entries[0].Seq != last {
		t.Fatalf("bucket holds %d snapshots, newest at %d; want 1 to 3, newest at %d", len(entries), entries[0].Seq, last)
	}
	for _, e := range entries {
		if _, err := store.Read(context.Background(), e, nil, nil, func(jwtrevoke.Revocation) error { return nil }); err != nil {
			t.Errorf("snapshot %s: %v", e.Name, err)
		}
	}
	a := startsFrom(t, url, last, agent.SnapshotLoaded)
	mustRevoke(t, a, "start-0", "start-99", "round-a-0", "round-e-199")
	if n := warnings.n.Load(); n != 0 {
		t.Errorf("the snapshotters logged %d warnings (%s): they failed and started over", n, warnings.last.Load())
	}
}

// warnCounter is a slog handler that counts warnings and errors.
type warnCounter struct {
	n    atomic.Int64
	last atomic.Value
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	w.n.Add(1)
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	w.last.Store(msg)
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }
