package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestCLICheckExitCodes runs the binary: a token is allowed (exit 0) until
// its subject is revoked, then refused (exit 1) with the revocation's
// reason; a token issued after the cut-off is allowed; a token that does
// not verify is refused; no server is an error (exit 2).
func TestCLICheckExitCodes(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)
	secret := clitest.SecretFile(t)

	before := clitest.SignToken(t, "j-before", "dave", "sess-d", time.Now().Add(-time.Minute))
	check := func(tok string, extra ...string) (cliCheckJSON, string, int) {
		t.Helper()
		args := append([]string{"--server", url, "check", tok, "--json", "--timeout", clitest.CheckTimeout}, extra...)
		if len(extra) == 0 {
			args = append(args, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID)
		}
		stdout, stderr, code := cliExec(t, ctx, nil, args...)
		var rep cliCheckJSON
		if code != 2 {
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("check output %q (stderr %q): %v", stdout, stderr, err)
			}
		}
		return rep, stderr, code
	}

	rep, stderr, code := check(before)
	if code != 0 || rep.Verdict != "allowed" || !rep.Allowed || !rep.Verified || !rep.Ready || rep.Token.JTI != "j-before" {
		t.Fatalf("check before revocation: exit %d, %+v, stderr %q; want exit 0, allowed", code, rep, stderr)
	}

	rc, err := pub.RevokeSubject(ctx, "dave", time.Time{}, publisher.Reason("password change"), publisher.Actor("admin:alice"))
	if err != nil {
		t.Fatal(err)
	}
	rep, stderr, code = check(before)
	if code != 1 || rep.Verdict != "revoked" || rep.Allowed || rep.Kind != "sub" || rep.Reason != "password change" ||
		rep.Revocation == nil || rep.Revocation.Seq != rc.Seq || rep.Revocation.Actor != "admin:alice" || rep.LastApplied < rc.Seq {
		t.Fatalf("check after revoke subject: exit %d, %+v (revocation %+v), stderr %q; want exit 1, revoked by sub", code, rep, rep.Revocation, stderr)
	}

	// Issued 100 ms after the cut-off, with a fractional iat: allowed.
	after := clitest.SignToken(t, "j-after", "dave", "sess-d2", rc.Revocation.Before.Add(100*time.Millisecond))
	if rep, stderr, code = check(after); code != 0 || rep.Verdict != "allowed" {
		t.Errorf("check of a token issued after the cut-off: exit %d, %+v, stderr %q; want exit 0", code, rep, stderr)
	}

	if rep, _, code = check(before, "--hmac-secret", "wrong", "--hmac-key-id", clitest.KeyID); code != 1 || rep.Verdict != "invalid" || rep.Error == "" || rep.Token.Subject != "dave" {
		t.Errorf("check with the wrong secret: exit %d, %+v; want exit 1, invalid", code, rep)
	}
	expired := clitest.SignToken(t, "j-expired", "erin", "", time.Now().Add(-time.Hour))
	if rep, _, code = check(expired, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID); code != 1 || rep.Verdict != "expired" {
		t.Errorf("check of an expired token: exit %d, %+v; want exit 1, expired", code, rep)
	}
	// The secret unnamed: it is known by its thumbprint, so the token's kid
	// names no configured key and the token is refused, as serve would.
	if rep, _, code = check(before, "--hmac-secret-file", secret); code != 1 || rep.Verdict != "invalid" || !strings.Contains(rep.Error, "names no configured key") {
		t.Errorf("check with the secret unnamed: exit %d, %+v; want exit 1, invalid, the kid naming no configured key", code, rep)
	}
	rep, stderr, code = check(before, "--unverified")
	if code != 1 || rep.Verdict != "revoked" || rep.Verified || !strings.Contains(stderr, "NOT verified") {
		t.Errorf("check --unverified: exit %d, %+v, stderr %q; want exit 1, revoked, unverified, warned", code, rep, stderr)
	}

	// Text output, for people.
	stdout, _, code := cliExec(t, ctx, nil, "-s", url, "check", before, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID, "--timeout", clitest.CheckTimeout)
	for _, want := range []string{"Token REFUSED: revoked", `subject "dave"`, "password change", "admin:alice", "Issued before:", "applied up to seq"} {
		if code != 1 || !strings.Contains(stdout, want) {
			t.Errorf("check text output (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}

	// No verdict: exit 2.
	for _, args := range [][]string{
		{"--server", "nats://127.0.0.1:1", "check", before, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID},
		{"--server", url, "--stream", "NOSUCH", "check", before, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID},
		{"--server", url, "check", before},
		{"--server", url, "check", "not-a-jwt", "--unverified"},
	} {
		if _, stderr, code := cliExec(t, ctx, nil, args...); code != 2 || !strings.Contains(stderr, "jwtrevoke check:") {
			t.Errorf("jwtrevoke %v: exit %d, stderr %q; want exit 2", args, code, stderr)
		}
	}
}

// cliCheckJSON is check --json output, as a script reads it.
type cliCheckJSON struct {
	Verdict    string `json:"verdict"`
	Allowed    bool   `json:"allowed"`
	Kind       string `json:"kind"`
	Reason     string `json:"reason"`
	Error      string `json:"error"`
	Verified   bool   `json:"verified"`
	Revocation *struct {
		Kind   string    `json:"kind"`
		Key    string    `json:"key"`
		Before time.Time `json:"before"`
		Reason string    `json:"reason"`
		Actor  string    `json:"actor"`
		Seq    uint64    `json:"seq"`
	} `json:"revocation"`
	Token struct {
		JTI     string `json:"jti"`
		Subject string `json:"sub"`
	} `json:"token"`
	Ready       bool    `json:"ready"`
	LastApplied uint64  `json:"last_applied_seq"`
	StalenessMS float64 `json:"staleness_ms"`
}
