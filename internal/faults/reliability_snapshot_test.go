package faults

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/gobuild"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// TestSnapshotterKilled is fault 15: `jwtrevoke snapshot`, a real process,
// is killed with SIGKILL while it writes a snapshot (after its first part
// is in the bucket, before its manifest). The bucket must still offer the
// last whole snapshot and nothing of the dead one; an agent that starts
// then loads the whole one and replays the rest, holding every acked
// revocation; the next snapshotter run writes a whole snapshot again.
func TestSnapshotterKilled(t *testing.T) {
	parallel(t)
	n := pick(300_000, 1_000_000) // about 65 bytes each in a snapshot: at least three 8 MiB parts
	r := report(t, "F15", "snapshotter killed mid-write", fmt.Sprintf("%d revocations; SIGKILL of `jwtrevoke snapshot` once its first part is written, before its manifest", n))
	bin, err := gobuild.Binary("github.com/jwtrevoke/jwtrevoke/cmd/jwtrevoke")
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, natsproc.Options{})
	nc := dial(t, srv.URL())
	pub := testkit.NewPublisher(t, nc)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &ackLog{}
	batch(ctx, pub, longRevs("first", n/2), 2000, log)
	whole, err := snapshot.Take(ctx, js, snapshot.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	batch(ctx, pub, longRevs("second", n/2), 2000, log)
	if len(log.failed) > 0 {
		t.Fatalf("publishes failed: %s", errsSummary(log.failed))
	}
	store, err := snapshot.Open(ctx, js, snapshot.Bucket(jwtrevoke.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}

	// Kill the snapshotter between its first part and its manifest. If it
	// wrote its manifest before the kill landed (it never has here: a part
	// takes far longer than the kill), the round proves nothing and runs
	// again with more events after the newest snapshot.
	killed := false
	for round := 0; round < 5 && !killed; round++ {
		killed = killMidWrite(t, ctx, bin, srv.URL(), js)
		if !killed {
			r.note("round %d: the snapshotter finished before the kill", round+1)
			batch(ctx, pub, revs(fmt.Sprintf("round-%d", round), 1000), 1000, log)
		}
	}
	if !killed {
		t.Fatal("the snapshotter finished its snapshot before every kill: the case proves nothing")
	}
	entries, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Seq != whole.Seq {
		t.Fatalf("after the kill the newest snapshot is %+v, want the whole one at %d", entries, whole.Seq)
	}

	// An agent that starts now loads the whole snapshot, replays the rest,
	// and refuses every acked revocation.
	acked, last := log.snapshot()
	a := testkit.NewAgent(t, dial(t, srv.URL()))
	mustApply(t, time.Minute, "agent after the kill", a, last)
	st := a.Stats()
	if st.SnapshotSeq != whole.Seq || st.SnapshotLoads[agent.SnapshotLoaded] != 1 {
		t.Errorf("agent started from snapshot %d (loads %v), want the whole one at %d", st.SnapshotSeq, st.SnapshotLoads, whole.Seq)
	}
	lost := 0
	for _, ak := range acked {
		if a.Check(&ak.tok).Verdict != filter.Revoked {
			lost++
		}
	}
	r.acked, r.lost = len(acked), lost
	if lost > 0 {
		t.Errorf("%d of %d acked revocations allowed by the agent that started after the kill", lost, len(acked))
	}

	// The next run writes a whole snapshot, and an agent starts from it.
	start := time.Now()
	if out, err := exec.CommandContext(ctx, bin, "snapshot", "--server", srv.URL(), "--json").CombinedOutput(); err != nil {
		t.Fatalf("jwtrevoke snapshot after the kill: %v\n%s", err, out)
	}
	r.setRecovery(time.Since(start))
	entries, err = store.List(ctx)
	if err != nil || len(entries) == 0 || entries[0].Seq != last {
		t.Fatalf("after the next run the newest snapshot is %+v (%v), want one at %d", entries, err, last)
	}
	b := testkit.NewAgent(t, dial(t, srv.URL()))
	if st := b.Stats(); st.SnapshotSeq != last {
		t.Errorf("agent after the next run started from snapshot %d, want %d", st.SnapshotSeq, last)
	}
	for _, ak := range acked {
		if b.Check(&ak.tok).Verdict != filter.Revoked {
			t.Fatalf("agent from the new snapshot allows acked revocation %q", ak.tok.JTI)
		}
	}
	r.note("killed mid-write; an agent then loaded the whole snapshot at %d and replayed to %d; the next `jwtrevoke snapshot` took %v (recovery column)",
		whole.Seq, last, r.recovery.Round(time.Millisecond))
	r.done(t)
}

// killMidWrite runs `jwtrevoke snapshot` and kills it with SIGKILL as soon
// as a part of a new snapshot is in the bucket. It reports false if the
// snapshot's manifest was there first (the process finished).
func killMidWrite(t *testing.T, ctx context.Context, bin, url string, js jetstream.JetStream) bool {
	t.Helper()
	obj, err := js.ObjectStore(ctx, snapshot.Bucket(jwtrevoke.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	before := objectNames(t, ctx, obj)
	w, err := obj.Watch(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cmd := exec.CommandContext(ctx, bin, "snapshot", "--server", url)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case info := <-w.Updates():
			if info == nil || info.Deleted || slices.Contains(before, info.Name) {
				continue
			}
			if !strings.Contains(info.Name, ".part-") {
				// A manifest: the snapshot is whole.
				<-exited
				return false
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := <-exited
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				// It exited on its own before the signal: finished or failed.
				t.Logf("snapshotter exited with %v before the kill:\n%s", err, out.String())
				return false
			}
			return true
		case err := <-exited:
			t.Fatalf("jwtrevoke snapshot exited before writing a part: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// longRevs is revs with jti-sized keys (about 40 bytes), so a snapshot of a
// few hundred thousand spans several parts.
func longRevs(prefix string, n int) []jwtrevoke.Revocation {
	rs := revs(prefix, n)
	for i := range rs {
		rs[i].Key = fmt.Sprintf("%s-%032d", prefix, i)
	}
	return rs
}

func objectNames(t *testing.T, ctx context.Context, obj jetstream.ObjectStore) []string {
	t.Helper()
	infos, err := obj.List(ctx)
	if err != nil && err != jetstream.ErrNoObjectsFound {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}
