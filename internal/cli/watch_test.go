package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// cliWatch starts `jwtrevoke watch` in this process and returns once it
// is consuming (it says so on stderr), with a function that waits for it to
// end and returns its output.
func cliWatch(t *testing.T, ctx context.Context, args ...string) (wait func() (string, error)) {
	t.Helper()
	root := newTestRoot()
	var out strings.Builder
	errR, errW := io.Pipe()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(errW)
	root.SetIn(strings.NewReader(""))
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		errW.CloseWithError(io.EOF)
		done <- err
	}()
	stderr := make(chan string, 64)
	go func() {
		defer close(stderr)
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			stderr <- sc.Text()
		}
	}()
	for line := range stderr {
		if strings.HasPrefix(line, "Watching stream") {
			go func() {
				for range stderr { // keep the pipe drained
				}
			}()
			return func() (string, error) {
				select {
				case err := <-done:
					return out.String(), err
				case <-time.After(30 * time.Second):
					t.Fatalf("watch %v did not end within 30s; output so far:\n%s", args, out.String())
					return "", nil
				}
			}
		}
		t.Logf("watch stderr: %s", line)
	}
	err := <-done
	t.Fatalf("watch %v ended before consuming: %v", args, err)
	return nil
}

// TestCLIWatchJSON: watch --json --count N prints the N events published
// while it runs, malformed, expired and misfiled ones included, and keeps
// going after them.
func TestCLIWatchJSON(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)
	// An event from before watch started: not shown by default.
	if _, err := pub.RevokeSubject(ctx, "old", time.Time{}); err != nil {
		t.Fatal(err)
	}

	wait := cliWatch(t, ctx, "--server", url, "watch", "--json", "--count", "6")

	now := time.Now()
	if _, err := pub.RevokeSubject(ctx, "alice", time.Time{}, publisher.Reason("password change"), publisher.Actor("admin:alice")); err != nil {
		t.Fatal(err)
	}
	publishRaw := func(subject string, data []byte) {
		t.Helper()
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	publishRaw(jwtrevoke.Subject("", jwtrevoke.KindSubject, "mallory"), []byte("this is not an event"))
	expired, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "gone", Before: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour), Issued: now.Add(-2 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publishRaw(jwtrevoke.Subject("", jwtrevoke.KindToken, "gone"), expired)
	misfiled, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindSession, Key: "s-9", Before: now, Expires: now.Add(time.Hour), Issued: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publishRaw(jwtrevoke.Subject("", jwtrevoke.KindSession, "another"), misfiled)
	if _, err := pub.RevokeJTI(ctx, "j-7", now.Add(10*time.Minute), publisher.Reason("logout")); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.RevokeAll(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// One more than --count: watch must have stopped before it.
	if _, err := pub.RevokeKey(ctx, "never-seen"); err != nil {
		t.Fatal(err)
	}

	stdout, err := wait()
	if err != nil {
		t.Fatalf("watch = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("watch --count 6 printed %d lines, want 6:\n%s", len(lines), stdout)
	}
	want := []struct {
		status, kind, key, errPart, warnPart string
	}{
		{watchOK, "sub", "alice", "", ""},
		{watchMalformed, "", "", "unknown wire format version", ""},
		{watchExpired, "", "", "", ""},
		{watchOK, "sid", "s-9", "", "subject does not match"},
		{watchOK, "jti", "j-7", "", ""},
		{watchOK, "all", "", "", ""},
	}
	for i, line := range lines {
		var ev cliWatchLine
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		w := want[i]
		if ev.Status != w.status || ev.Kind != w.kind || ev.Key != w.key || ev.Seq != uint64(i+2) ||
			!strings.Contains(ev.Error, w.errPart) || !strings.Contains(ev.Warning, w.warnPart) || (w.warnPart == "" && ev.Warning != "") {
			t.Errorf("line %d = %s\nwant status %s, kind %q, key %q, seq %d, error ~%q, warning ~%q", i, line, w.status, w.kind, w.key, i+2, w.errPart, w.warnPart)
		}
		if ev.Status == watchOK && (ev.LagMS == nil || *ev.LagMS < 0 || ev.Issued.IsZero() || ev.Time.IsZero()) {
			t.Errorf("line %d: ok event without lag or times: %s", i, line)
		}
	}
	var first cliWatchLine
	_ = json.Unmarshal([]byte(lines[0]), &first)
	if first.Reason != "password change" || first.Actor != "admin:alice" {
		t.Errorf("first event reason %q actor %q, want password change, admin:alice", first.Reason, first.Actor)
	}
}

// TestCLIWatchReplay: --all, --since seq and --since duration replay
// stored events; text output prints one line each; Ctrl-C (the context)
// ends watch cleanly.
func TestCLIWatchReplay(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)
	for i := range 4 {
		if _, err := pub.RevokeSession(ctx, "s-"+strconv.Itoa(i), time.Time{}, publisher.Reason("r"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args  []string
		lines int
		first string
	}{
		{[]string{"watch", "--all", "--count", "4"}, 4, `#1  sid  "s-0"`},
		{[]string{"watch", "--since", "3", "--count", "2"}, 2, `#3  sid  "s-2"`},
		{[]string{"watch", "--since", "1h", "--count", "1"}, 1, `#1  sid  "s-0"`},
		{[]string{"watch", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--count", "1"}, 1, `#1  sid  "s-0"`},
	} {
		stdout, stderr, err := cliRun(ctx, nil, append([]string{"-s", url}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if err != nil || len(lines) != tc.lines || !strings.Contains(lines[0], tc.first) || !strings.Contains(lines[0], `reason="r`) {
			t.Errorf("jwtrevoke %v = %v, %d lines, want %d starting %q:\n%s%s", tc.args, err, len(lines), tc.lines, tc.first, stdout, stderr)
		}
	}

	// Ctrl-C: cancelling the context ends watch without an error.
	cctx, cancel := context.WithCancel(ctx)
	wait := cliWatch(t, cctx, "-s", url, "watch")
	cancel()
	if _, err := wait(); err != nil {
		t.Errorf("watch after Ctrl-C = %v, want nil", err)
	}

	for _, args := range [][]string{
		{"watch", "--all", "--since", "1"},
		{"watch", "--since", "0"},
		{"watch", "--since", "soon"},
		{"watch", "--count", "-1"},
		{"watch", "--trust-key", "nofile"},
		{"--stream", "NOSUCH", "watch"},
	} {
		if _, _, err := cliRun(ctx, nil, append([]string{"-s", url}, args...)...); err == nil {
			t.Errorf("jwtrevoke %v = nil, want an error", args)
		}
	}
}

// cliWatchNotes starts `jwtrevoke watch` in this process like cliWatch,
// and hands on every line it writes to stderr.
func cliWatchNotes(t *testing.T, ctx context.Context, args ...string) (notes <-chan string, wait func() (string, error)) {
	t.Helper()
	root := newTestRoot()
	var out clitest.SyncBuffer
	errR, errW := io.Pipe()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(errW)
	root.SetIn(strings.NewReader(""))
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		errW.CloseWithError(io.EOF)
		done <- err
	}()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, func() (string, error) {
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(testkit.Patience): // a hang guard; watch ends at once
			t.Fatalf("watch %v did not end within %v; output so far:\n%s", args, testkit.Patience, out.String())
			return "", nil
		}
	}
}

// cliWaitNote waits for a line of notes that contains want and returns it.
func cliWaitNote(t *testing.T, ctx context.Context, notes <-chan string, want string) string {
	t.Helper()
	for {
		select {
		case line, ok := <-notes:
			if !ok {
				t.Fatalf("watch ended its stderr without a line containing %q", want)
			}
			t.Logf("watch stderr: %s", line)
			if strings.Contains(line, want) {
				return line
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q on watch's stderr", want)
		}
	}
}

// TestCLIWatchSaysWhatItWaitsFor: watch is never silent about itself. On
// stderr (stdout carries only events) it says it waits when it has nothing
// to show: only new events, --since past the stream's end, a replay that
// has caught up; and when it loses the server and when it has it back,
// after which it goes on with the next event.
func TestCLIWatchSaysWhatItWaitsFor(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	dir := t.TempDir()
	s := testkit.NATS(t, dir)
	url := s.ClientURL()
	pub := clitest.Publisher(t, testkit.Connect(t, url))
	for _, sub := range []string{"a", "b"} {
		if _, err := pub.RevokeSubject(ctx, sub, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"watch"}, "Waiting for events after seq 2; the stream's last is 2"},
		{[]string{"watch", "--since", "100"}, "Waiting for events after seq 99; the stream's last is 2 (--since 100 is past it)"},
		{[]string{"watch", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "the stream's last is 2, stored"},
		{[]string{"watch", "--all"}, "Waiting for events after seq 2; the stream's last is 2"},
	} {
		cctx, cancel := context.WithCancel(ctx)
		notes, wait := cliWatchNotes(t, cctx, append([]string{"-s", url}, tc.args...)...)
		cliWaitNote(t, ctx, notes, tc.want)
		cancel()
		stdout, err := wait()
		if err != nil || strings.Contains(stdout, "Waiting") {
			t.Errorf("jwtrevoke %v = %v, stdout %q; want nil, no notes on stdout", tc.args, err, stdout)
		}
	}

	// The server dies and comes back: watch says both, and goes on.
	notes, wait := cliWatchNotes(t, ctx, "-s", url, "--json", "watch", "--all", "--count", "3")
	cliWaitNote(t, ctx, notes, "Waiting for events after seq 2")
	s.Shutdown()
	cliWaitNote(t, ctx, notes, "Disconnected from NATS")
	s = testkit.Restart(t, s, dir)
	cliWaitNote(t, ctx, notes, "Reconnected to nats://")
	pub2, err := publisher.New(ctx, testkit.Connect(t, s.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub2.RevokeSubject(ctx, "c", time.Time{}); err != nil {
		t.Fatal(err)
	}
	stdout, err := wait()
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) != 3 || !strings.Contains(lines[2], `"key": "c"`) && !strings.Contains(lines[2], `"key":"c"`) {
		t.Errorf("watch across a restart = %v, stdout:\n%s\nwant 3 events, the last for c", err, stdout)
	}
}
