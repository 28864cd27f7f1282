package cli

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLIRevokeEachKindThenStatus revokes one of every kind through the
// command and checks each receipt, then that status counts them.
func TestCLIRevokeEachKindThenStatus(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	secret := clitest.SecretFile(t)
	tok := clitest.SignToken(t, "jti-from-token", "alice", "sess-1", time.Now().Add(-time.Minute))

	steps := []struct {
		args []string
		kind jwtrevoke.Kind
		key  string
	}{
		{[]string{"revoke", "token", tok, "--hmac-secret-file", secret, "--create-stream"}, jwtrevoke.KindToken, "jti-from-token"},
		{[]string{"revoke", "jti", "jti-by-hand", "--exp", "10m"}, jwtrevoke.KindToken, "jti-by-hand"},
		{[]string{"revoke", "subject", "alice", "--reason", "password change", "--actor", "admin:alice"}, jwtrevoke.KindSubject, "alice"},
		{[]string{"revoke", "session", "sess-1"}, jwtrevoke.KindSession, "sess-1"},
		{[]string{"revoke", "key", "signing-2026-01"}, jwtrevoke.KindKey, "signing-2026-01"},
		{[]string{"revoke", "all", "--force", "--before", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)}, jwtrevoke.KindAll, ""},
	}
	for i, s := range steps {
		args := append([]string{"--server", url, "--json"}, s.args...)
		stdout, stderr, err := cliRun(ctx, nil, args...)
		if err != nil {
			t.Fatalf("step %d: jwtrevoke %v = %v\nstderr: %s", i, s.args, err, stderr)
		}
		var rc receipt
		if err := json.Unmarshal([]byte(stdout), &rc); err != nil {
			t.Fatalf("step %d: receipt %q: %v", i, stdout, err)
		}
		want := jwtrevoke.Subject("", s.kind, s.key)
		if !rc.Revoked || rc.Kind != s.kind || rc.Key != s.key || rc.Seq != uint64(i+1) || rc.Duplicate ||
			rc.Subject != want || !strings.HasPrefix(rc.MsgID, "jr1-") || len(rc.MsgID) != 36 || rc.Stream != "JWTREVOKE" {
			t.Errorf("step %d: receipt = %+v, want kind %v key %q seq %d subject %s", i, rc, s.kind, s.key, i+1, want)
		}
		if rc.Actor == "" || rc.Expires.Before(rc.Before) {
			t.Errorf("step %d: receipt actor %q, before %v, expires %v", i, rc.Actor, rc.Before, rc.Expires)
		}
	}

	// The token's exp (plus the publisher's minute of leeway) bounds its
	// revocation; the subject's carries its reason and actor.
	stdout, _, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "alice", "--reason", "again")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Revoked subject "alice" on stream JWTREVOKE`, "Issued before:", "Reason:", "again", "Sequence:", "7", "Msg ID:", "jr1-"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("revoke subject text output lacks %q:\n%s", want, stdout)
		}
	}

	stdout, stderr, err := cliRun(ctx, nil, "-s", url, "status", "--json")
	if err != nil {
		t.Fatalf("status = %v\n%s", err, stderr)
	}
	var st statusReport
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status JSON %q: %v", stdout, err)
	}
	wantKinds := map[string]uint64{"jti": 2, "sub": 1, "sid": 1, "kid": 1, "all": 1}
	for k, n := range wantKinds {
		if st.Kinds[k] != n {
			t.Errorf("status kinds[%s] = %d, want %d (all: %v)", k, st.Kinds[k], n, st.Kinds)
		}
	}
	// Seven events written, every one kept (the subject's two events on
	// its one subject): six keys, seven messages.
	if st.Messages != 7 || st.LastSeq != 7 || st.Other != 0 || !st.Safe || st.Problem != "" ||
		st.Stream != "JWTREVOKE" || len(st.Subjects) != 1 || st.Subjects[0] != "jwtrevoke.v1.>" ||
		st.Storage != "File" || st.MaxMsgsPerSubject != -1 || st.Replicas != 1 {
		t.Errorf("status = %+v, want 7 messages, last seq 7, safe, subjects [jwtrevoke.v1.>], file storage, every event per subject kept", st)
	}

	stdout, _, err = cliRun(ctx, nil, "-s", url, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Stream JWTREVOKE", "jwtrevoke.v1.>", "Safe:", "yes", "Messages:", "Last sequence:", "7 @", "subject (sub):", "all:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status text lacks %q:\n%s", want, stdout)
		}
	}
}

// TestCLIRevokeNeedsStream: without --create-stream, a missing stream is
// an error that says what to do, and nothing is created.
func TestCLIRevokeNeedsStream(t *testing.T) {
	ctx := clitest.Context(t, 30*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	_, _, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "alice")
	if !errors.Is(err, jetstream.ErrStreamNotFound) || !strings.Contains(err.Error(), "--create-stream") {
		t.Fatalf("revoke subject on an empty server = %v, want stream not found with a --create-stream hint", err)
	}
	_, _, err = cliRun(ctx, nil, "-s", url, "status")
	if err == nil || !strings.Contains(err.Error(), "stream not found") {
		t.Fatalf("status after a refused revoke = %v, want stream not found", err)
	}
}

// TestCLIRevokeRefusals: bad input is refused before anything is
// published.
func TestCLIRevokeRefusals(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	clitest.Publisher(t, nc)
	secret := clitest.SecretFile(t)
	now := time.Now()
	good := clitest.SignToken(t, "j1", "alice", "", now.Add(-time.Minute))
	noJTI := clitest.SignToken(t, "", "alice", "", now.Add(-time.Minute))

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"all without --force, stdin not a terminal", []string{"revoke", "all"}, "yes\n", "stdin is not a terminal"},
		{"wrong secret", []string{"revoke", "token", good, "--hmac-secret", "wrong"}, "", "does not verify"},
		{"no key", []string{"revoke", "token", good}, "", "no key to verify"},
		{"unverified and a key", []string{"revoke", "token", good, "--unverified", "--hmac-secret-file", secret}, "", "exclude each other"},
		{"hmac and pem", []string{"revoke", "token", good, "--hmac-secret", "x", "--pem", secret}, "", "exclude each other"},
		{"alg none", []string{"revoke", "token", good, "--hmac-secret", "x", "--alg", "none"}, "", "not allowed"},
		{"empty jti", []string{"revoke", "token", noJTI, "--hmac-secret-file", secret}, "", `"jti" is empty`},
		{"not a jwt", []string{"revoke", "token", "abc", "--unverified"}, "", "not a JWT"},
		{"empty token on stdin", []string{"revoke", "token", "-", "--unverified"}, " \n", "no token"},
		{"cut-off in the future", []string{"revoke", "subject", "alice", "--before", now.Add(time.Hour).Format(time.RFC3339)}, "", "in the future"},
		{"cut-off older than every token", []string{"revoke", "session", "s", "--before", now.Add(-48 * time.Hour).Format(time.RFC3339)}, "", "expired already"},
		{"cut-off not a time", []string{"revoke", "all", "--force", "--before", "yesterday"}, "", "RFC 3339"},
		{"bad exp", []string{"revoke", "jti", "j", "--exp", "soon"}, "", "--exp"},
		{"sign key without id", []string{"revoke", "key", "k", "--sign-key", secret}, "", "go together"},
		{"sign key not a key", []string{"revoke", "key", "k", "--sign-key", secret, "--sign-key-id", "ops"}, "", "--sign-key"},
		{"reason too long", []string{"revoke", "key", "k", "--reason", strings.Repeat("r", jwtrevoke.MaxReasonLen+1)}, "", "field too long"},
		{"unknown verb", []string{"revoke", "everything"}, "", "unknown command"},
		{"missing key argument", []string{"revoke", "subject"}, "", "accepts 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-s", url}, tc.args...)
			_, _, err := cliRun(ctx, strings.NewReader(tc.stdin), args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("jwtrevoke %v = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
	st, _, err := cliRun(ctx, nil, "-s", url, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st, `"messages": 0`) {
		t.Errorf("after refusals, status = %s, want no messages", st)
	}
}

// TestCLIRevokeTokenUnverifiedAndExpired: --unverified says loudly that it
// did not verify; an expired token needs no revocation and says so.
func TestCLIRevokeTokenUnverifiedAndExpired(t *testing.T) {
	ctx := clitest.Context(t, 30*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	clitest.Publisher(t, testkit.Connect(t, url))

	tok := clitest.SignToken(t, "j-unverified", "bob", "", time.Now().Add(-time.Minute))
	stdout, stderr, err := cliRun(ctx, strings.NewReader(tok+"\n"), "-s", url, "revoke", "token", "-", "--unverified", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "NOT verified") {
		t.Errorf("revoke token --unverified stderr = %q, want a loud warning", stderr)
	}
	if !strings.Contains(stdout, `"key": "j-unverified"`) || !strings.Contains(stdout, `"revoked": true`) || !strings.Contains(stdout, `"token_verified": false`) {
		t.Errorf("revoke token --unverified = %s", stdout)
	}

	old := clitest.SignToken(t, "j-old", "bob", "", time.Now().Add(-time.Hour)) // exp 50 minutes ago
	stdout, _, err = cliRun(ctx, nil, "-s", url, "revoke", "token", "Bearer "+old, "--hmac-secret", clitest.Secret)
	if err != nil || !strings.Contains(stdout, "Nothing to revoke") {
		t.Errorf("revoke token (expired) = %q, %v; want nothing to revoke", stdout, err)
	}
	stdout, _, err = cliRun(ctx, nil, "-s", url, "--json", "revoke", "token", old, "--hmac-secret", clitest.Secret)
	if err != nil || !strings.Contains(stdout, `"revoked": false`) || !strings.Contains(stdout, `"seq": 0`) {
		t.Errorf("revoke token --json (expired) = %q, %v; want revoked false", stdout, err)
	}
}

// TestCLIRevokeSigned signs events with --sign-key and checks that watch
// verifies them with --trust-key, and refuses them with another key.
func TestCLIRevokeSigned(t *testing.T) {
	ctx := clitest.Context(t, 30*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	clitest.Publisher(t, testkit.Connect(t, url))

	pub, priv, _ := ed25519.GenerateKey(nil)
	seedFile := clitest.WriteFile(t, "ops.seed", []byte(hex.EncodeToString(priv.Seed())+"\n"))
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := clitest.WriteFile(t, "ops.pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	other, _, _ := ed25519.GenerateKey(nil)
	otherFile := clitest.WriteFile(t, "other.pub", []byte(hex.EncodeToString(other)))

	stdout, stderr, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "carol", "--sign-key", seedFile, "--sign-key-id", "ops-1")
	if err != nil || !strings.Contains(stdout, "Signed by:") {
		t.Fatalf("revoke --sign-key = %q, %v\n%s", stdout, err, stderr)
	}
	for _, tc := range []struct {
		trust, status, signed string
	}{
		{"ops-1=" + pubFile, watchOK, "ops-1"},
		{"ops-1=" + otherFile, watchUntrusted, ""},
		{"ops-2=" + pubFile, watchUntrusted, ""},
	} {
		stdout, stderr, err := cliRun(ctx, nil, "-s", url, "--json", "watch", "--all", "--count", "1", "--trust-key", tc.trust)
		if err != nil {
			t.Fatalf("watch --trust-key %s = %v\n%s", tc.trust, err, stderr)
		}
		var ev cliWatchLine
		if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
			t.Fatalf("watch output %q: %v", stdout, err)
		}
		if ev.Status != tc.status || ev.Signed != tc.signed {
			t.Errorf("watch --trust-key %s: status %q signed_by %q, want %q %q (%s)", tc.trust, ev.Status, ev.Signed, tc.status, tc.signed, stdout)
		}
	}
}
