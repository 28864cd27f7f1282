package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// natsCLIVersion is the nats CLI the interoperability test installs.
const natsCLIVersion = "v0.5.0"

// The nats CLI is built once per test binary and shared.
var (
	natsCLIOnce sync.Once
	natsCLIPath string
	natsCLIErr  error
	natsCLIOut  []byte
	// natsCLITimedOut: go install was killed at buildTimeout.
	natsCLITimedOut bool
)

// natsCLI installs github.com/nats-io/natscli/nats at natsCLIVersion into
// a temporary directory, once per test process, and returns its path. If
// go install fails (offline, no module proxy) the test is skipped, saying
// why; if it is still building when buildTimeout ends, the test fails: a
// slow machine must not turn the test into a skip.
func natsCLI(t *testing.T) string {
	t.Helper()
	natsCLIOnce.Do(installNatsCLIOnce)
	if natsCLITimedOut {
		t.Fatalf("installing the nats CLI (go install github.com/nats-io/natscli/nats@%s): %v\n%s", natsCLIVersion, natsCLIErr, natsCLIOut)
	}
	if natsCLIErr != nil {
		t.Skipf("skipping: could not install the nats CLI (go install github.com/nats-io/natscli/nats@%s; offline?): %v\n%s", natsCLIVersion, natsCLIErr, natsCLIOut)
	}
	return natsCLIPath
}

func installNatsCLIOnce() {
	dir, err := os.MkdirTemp("", "jwtrevoke-natscli-")
	if err != nil {
		natsCLIErr = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/nats-io/natscli/nats@"+natsCLIVersion)
	cmd.Dir = dir // outside this module: go install pkg@version builds it on its own
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
	natsCLIOut, natsCLIErr = cmd.CombinedOutput()
	if ctx.Err() != nil {
		natsCLIErr = fmt.Errorf("go install did not finish within %v: %w", buildTimeout, ctx.Err())
		natsCLITimedOut = true
	}
	if natsCLIErr == nil {
		natsCLIPath = filepath.Join(dir, "nats")
	}
}

// runNats runs the nats CLI with its own empty configuration (no saved
// contexts) and returns its combined output.
func runNats(t *testing.T, ctx context.Context, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, natsCLI(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "NATS_CONTEXT=", "NATS_URL=")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// docEvent builds a revocation event from docs/wire-format.md alone, with
// encoding/binary: §2 (the body) and, when seed is set, §3 (the signature
// block). Times are Unix nanoseconds.
func docEvent(kind byte, key, reason, actor string, before, expires, issued int64, keyID string, seed []byte) (event, body []byte) {
	b := []byte{0x01, kind}                               // version 1, kind
	b = binary.BigEndian.AppendUint64(b, uint64(before))  // offset 2
	b = binary.BigEndian.AppendUint64(b, uint64(expires)) // offset 10
	b = binary.BigEndian.AppendUint64(b, uint64(issued))  // offset 18
	for _, text := range []string{key, reason, actor} {   // offset 26: length-prefixed UTF-8
		b = binary.BigEndian.AppendUint16(b, uint16(len(text)))
		b = append(b, text...)
	}
	body = b
	if seed == nil {
		return body, body
	}
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), body) // pure Ed25519 over the body only
	event = append(append([]byte{}, body...), 0x01, byte(len(keyID)))
	event = append(event, keyID...)
	return append(event, sig...), body
}

// docSubject and docMsgID follow §7: the first 16 bytes of SHA-256, hex.
func docSubject(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "jwtrevoke.v1." + kind + "." + hex.EncodeToString(sum[:16])
}

func docMsgID(body []byte) string {
	sum := sha256.Sum256(body)
	return "jr1-" + hex.EncodeToString(sum[:16])
}

// TestNatsCLI: a real client nobody here wrote reads the stream a
// publisher created, and publishes revocations built by hand from
// docs/wire-format.md, which an agent and jwtrevoke check then honour.
func TestNatsCLI(t *testing.T) {
	natsCLI(t)     // build (or skip) before starting anything,
	buildBinary(t) // and before the test's clock starts
	ctx := clitest.Context(t, 4*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	if _, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// 1. nats stream info: the configuration the publisher chose.
	out := runNats(t, ctx, nil, "--server", url, "stream", "info", "JWTREVOKE", "--json")
	var info struct {
		Config struct {
			Subjects          []string `json:"subjects"`
			DenyDelete        bool     `json:"deny_delete"`
			DenyPurge         bool     `json:"deny_purge"`
			AllowDirect       bool     `json:"allow_direct"`
			Storage           string   `json:"storage"`
			MaxMsgsPerSubject int64    `json:"max_msgs_per_subject"`
			Duplicates        int64    `json:"duplicate_window"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("nats stream info --json: %v\n%s", err, out)
	}
	c := info.Config
	if len(c.Subjects) != 1 || c.Subjects[0] != "jwtrevoke.v1.>" || !c.DenyDelete || !c.DenyPurge || !c.AllowDirect ||
		c.Storage != "file" || c.MaxMsgsPerSubject != -1 || c.Duplicates <= 0 {
		t.Fatalf("nats stream info JWTREVOKE: config %+v; want subjects [jwtrevoke.v1.>], deny_delete, deny_purge, allow_direct, file storage, every event per subject kept", c)
	}

	// An agent that is running when the hand-made event arrives.
	applied := make(chan uint64, 8)
	a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour), agent.WithOnApply(func(r jwtrevoke.Revocation, seq uint64) {
		applied <- seq
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	// 2. A subject revocation of "grace", built from the document: cut-off
	// now, kept for the max token lifetime plus a minute of leeway.
	cutoff := time.Now()
	before := cutoff.UnixNano()
	expires := cutoff.Add(time.Hour + time.Minute).UnixNano()
	event, body := docEvent(2, "grace", "by hand", "ops:nats-cli", before, expires, before, "", nil)
	subject, msgID := docSubject("sub", "grace"), docMsgID(body)

	// 3. nats pub, to JetStream (waiting for the stream's ack), the raw
	// bytes on stdin, with the message ID of §7.
	pubArgs := []string{"--server", url, "pub", "--jetstream", "--no-templates", "--force-stdin", "--header", "Nats-Msg-Id:" + msgID, subject}
	if out := runNats(t, ctx, event, pubArgs...); !strings.Contains(out, "Stored in Stream: JWTREVOKE Sequence: 1") {
		t.Fatalf("nats pub: want the event stored as sequence 1:\n%s", out)
	}
	// The same event again is dropped by the duplicate window.
	if out := runNats(t, ctx, event, pubArgs...); !strings.Contains(out, "Duplicate: true") {
		t.Errorf("nats pub (again): want a duplicate:\n%s", out)
	}
	// The document and the Go encoder agree.
	want, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "grace", Before: time.Unix(0, before), Expires: time.Unix(0, expires), Issued: time.Unix(0, before), Reason: "by hand", Actor: "ops:nats-cli"}, nil)
	if err != nil || !bytes.Equal(event, want) || subject != jwtrevoke.Subject("", jwtrevoke.KindSubject, "grace") || msgID != jwtrevoke.MsgID(event) {
		t.Errorf("hand-made event %x, subject %s, msg id %s; jwtrevoke.Encode gives %x, %s, %s (err %v)",
			event, subject, msgID, want, jwtrevoke.Subject("", jwtrevoke.KindSubject, "grace"), jwtrevoke.MsgID(want), err)
	}

	// 4. The live agent applied it: a token of grace issued before the
	// cut-off is refused, one issued after it is not.
	select {
	case seq := <-applied:
		if seq != 1 {
			t.Fatalf("agent applied seq %d, want 1", seq)
		}
	case <-ctx.Done():
		t.Fatal("the agent never applied the hand-made event")
	}
	old := jwtrevoke.Token{JTI: "g-1", Subject: "grace", IssuedAt: cutoff.Add(-time.Minute), ExpiresAt: cutoff.Add(10 * time.Minute)}
	if res := a.Check(&old); res.Allowed || res.Verdict != filter.Revoked || res.Kind != jwtrevoke.KindSubject {
		t.Errorf("agent Check(token of grace issued before the cut-off) = %+v, want revoked by sub", res)
	}
	fresh := jwtrevoke.Token{JTI: "g-2", Subject: "grace", IssuedAt: cutoff.Add(time.Millisecond), ExpiresAt: cutoff.Add(10 * time.Minute)}
	if res := a.Check(&fresh); !res.Allowed {
		t.Errorf("agent Check(token of grace issued after the cut-off) = %+v, want allowed", res)
	}

	// 5. jwtrevoke check, a late agent that replays the stream, says revoked.
	secret := clitest.SecretFile(t)
	tok := clitest.SignToken(t, "g-3", "grace", "", cutoff.Add(-time.Minute))
	stdout, stderr, code := cliExec(t, ctx, nil, "--server", url, "--max-lifetime", "1h", "check", tok, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID, "--json", "--timeout", clitest.CheckTimeout)
	var rep cliCheckJSON
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 1 || rep.Verdict != "revoked" || rep.Kind != "sub" || rep.Reason != "by hand" ||
		rep.Revocation == nil || rep.Revocation.Actor != "ops:nats-cli" || !rep.Revocation.Before.Equal(time.Unix(0, before)) {
		t.Fatalf("jwtrevoke check (token of grace): exit %d, %s %s; want exit 1, revoked by the hand-made sub event", code, stdout, stderr)
	}

	// 6. A signed event (§3), kind jti, also by hand; watch verifies its
	// signature with the public key and reports the unsigned one as
	// untrusted.
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	pubFile := clitest.WriteFile(t, "ops.pub", []byte(hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))))
	now := time.Now()
	signed, sbody := docEvent(1, "g-4", "", "ops:nats-cli", now.UnixNano(), now.Add(11*time.Minute).UnixNano(), now.UnixNano(), "ops-2026-01", seed)
	out = runNats(t, ctx, signed, "--server", url, "pub", "--jetstream", "--no-templates", "--force-stdin", "--header", "Nats-Msg-Id:"+docMsgID(sbody), docSubject("jti", "g-4"))
	if !strings.Contains(out, "Sequence: 2") {
		t.Fatalf("nats pub (signed): %s", out)
	}
	stdout, stderr, code = cliExec(t, ctx, nil, "--server", url, "--max-lifetime", "1h", "--json", "watch", "--all", "--count", "2", "--trust-key", "ops-2026-01="+pubFile)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("jwtrevoke watch --all --count 2: exit %d\n%s%s", code, stdout, stderr)
	}
	// What a script reads of each line.
	var unsignedEv, signedEv struct {
		Status, Kind, Key, Warning string
		Signed                     string `json:"signed_by"`
	}
	_ = json.Unmarshal([]byte(lines[0]), &unsignedEv)
	_ = json.Unmarshal([]byte(lines[1]), &signedEv)
	if unsignedEv.Status != "untrusted" || signedEv.Status != "ok" || signedEv.Kind != "jti" || signedEv.Key != "g-4" || signedEv.Signed != "ops-2026-01" || signedEv.Warning != "" {
		t.Errorf("watch with the trusted key: %s / %s; want the unsigned event untrusted, the signed one ok by ops-2026-01", lines[0], lines[1])
	}
}
