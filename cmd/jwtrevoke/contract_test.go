package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestCLIContractFromTheStream: the stream's contract, written by the
// publisher that created it, is what every verb follows. A --max-lifetime
// that contradicts it is refused with both values named, never used to
// drop revocations (check used to answer "Token ALLOWED" for a revoked
// token under --max-lifetime 1m on a 24h stream); without the flag the
// verb follows the stream.
func TestCLIContractFromTheStream(t *testing.T) {
	ctx := clitest.Context(t, 2*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	pub := clitest.Publisher(t, testkit.Connect(t, url)) // the default contract: 24h tokens
	secret := clitest.SecretFile(t)
	tok := clitest.SignToken(t, "j-contract", "mallory", "sess-m", time.Now().Add(-time.Minute))
	if _, err := pub.RevokeSubject(ctx, "mallory", time.Now()); err != nil {
		t.Fatal(err)
	}
	check := func(extra ...string) (string, string, int) {
		return cliExec(t, ctx, nil, append([]string{"--server", url, "check", tok, "--hmac-secret-file", secret, "--hmac-key-id", clitest.KeyID, "--timeout", "30s"}, extra...)...)
	}
	if stdout, stderr, code := check(); code != 1 || !strings.Contains(stdout, "REFUSED") {
		t.Errorf("check of a revoked token: exit %d, %q %q; want exit 1, refused", code, stdout, stderr)
	}
	stdout, stderr, code := check("--max-lifetime", "1m")
	if code != 2 || strings.Contains(stdout, "ALLOWED") || !strings.Contains(stderr, "1m0s") || !strings.Contains(stderr, "24h0m0s") {
		t.Errorf("check --max-lifetime 1m on a 24h stream: exit %d, %q %q; want exit 2 naming 1m0s and 24h0m0s, never allowed", code, stdout, stderr)
	}
	if stdout, stderr, code := check("--max-lifetime", "24h"); code != 1 {
		t.Errorf("check --max-lifetime 24h (the stream's own): exit %d, %q %q; want exit 1, refused", code, stdout, stderr)
	}
}

// TestCLIStatusOfTheREADMEStream: a stream made exactly as the README's Go
// snippet makes it (publisher.New with WithMaxTokenLifetime(time.Hour)) is
// safe by status's check, with no flag, because status checks the stream
// against its own contract; and a contradicting --max-lifetime is named.
func TestCLIStatusOfTheREADMEStream(t *testing.T) {
	ctx := clitest.Context(t, 2*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	if _, err := publisher.New(ctx, testkit.Connect(t, url), publisher.WithMaxTokenLifetime(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliExec(t, ctx, nil, "--server", url, "status")
	if code != 0 || strings.Contains(stdout, "NO") || !strings.Contains(stdout, "Safe:") || !strings.Contains(stdout, "1h0m0s") {
		t.Errorf("status of the README's stream: exit %d\n%s%s\nwant safe, for tokens living up to 1h0m0s", code, stdout, stderr)
	}
	stdout, _, _ = cliExec(t, ctx, nil, "--server", url, "status", "--max-lifetime", "24h")
	if !strings.Contains(stdout, "Safe:  NO") && !strings.Contains(stdout, "NO (see below)") || !strings.Contains(stdout, "--max-lifetime") {
		t.Errorf("status --max-lifetime 24h of a 1h stream:\n%s\nwant unsafe, naming --max-lifetime", stdout)
	}
}

// TestServeFollowsTheStream: serve on a stream another publisher created
// with a 48h contract follows it (no flag), and refuses to start when told
// --max-lifetime 1h, naming both.
func TestServeFollowsTheStreamContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := testkit.NATS(t, "").ClientURL()
	pub, err := publisher.New(ctx, testkit.Connect(t, url), publisher.WithMaxTokenLifetime(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Kept for 48 h and a leeway: an agent assuming the old 24 h default
	// refused such an event as too far ahead and let the token through.
	if _, err := pub.RevokeSubject(ctx, "long-lived", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cliExec(t, ctx, nil, "--server", url, "--max-lifetime", "1h", "serve", "--listen", "127.0.0.1:0", "--hmac-secret", serveTestSecret, "--client", serveTestClient+":"+serveTestPass)
	if code == 0 || !strings.Contains(stderr, "1h0m0s") || !strings.Contains(stderr, "48h0m0s") {
		t.Errorf("serve --max-lifetime 1h on a 48h stream: exit %d, stderr %q; want a refusal naming 1h0m0s and 48h0m0s", code, stderr)
	}
	stdout, stderr, code := cliExec(t, ctx, nil, "--server", url, "check", clitest.SignToken(t, "j-long", "long-lived", "", time.Now().Add(-time.Minute)),
		"--hmac-secret", clitest.Secret, "--hmac-key-id", clitest.KeyID, "--timeout", "30s")
	if code != 1 || !strings.Contains(stdout, "REFUSED") {
		t.Errorf("check of a token under a 48h subject revocation: exit %d, %q %q; want refused", code, stdout, stderr)
	}
}
