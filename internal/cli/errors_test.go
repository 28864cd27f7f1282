package cli

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLISecondStreamNeedsItsOwnPrefix: a second revocation stream on the
// same server is refused by the server, whose subjects overlap the first's;
// the error says to give it --subject-prefix, and with one it works, for
// every verb.
func TestCLISecondStreamNeedsItsOwnPrefix(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	clitest.Publisher(t, testkit.Connect(t, url)) // JWTREVOKE on jwtrevoke.v1.>
	_, _, err := cliRun(ctx, nil, "-s", url, "--stream", "STAGING", "revoke", "subject", "alice", "--create-stream")
	if err == nil || !strings.Contains(err.Error(), "subjects overlap") || !strings.Contains(err.Error(), "jwtrevoke.v1.>") ||
		!strings.Contains(err.Error(), "--subject-prefix staging.jwtrevoke.v1") {
		t.Fatalf("revoke --create-stream of a second stream = %v, want the overlap explained with a --subject-prefix to give", err)
	}
	second := []string{"-s", url, "--stream", "STAGING", "--subject-prefix", "staging.jwtrevoke.v1"}
	if _, stderr, err := cliRun(ctx, nil, append(second, "revoke", "subject", "alice", "--create-stream")...); err != nil {
		t.Fatalf("revoke --create-stream of a second stream with its own prefix = %v\n%s", err, stderr)
	}
	stdout, stderr, err := cliRun(ctx, nil, append(second, "--json", "status")...)
	var st statusReport
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || !st.Safe || len(st.Subjects) != 1 || st.Subjects[0] != "staging.jwtrevoke.v1.>" || st.Kinds["sub"] != 1 {
		t.Errorf("status of the second stream = %v, %s%s; want safe, on staging.jwtrevoke.v1.>, one subject revoked", err, stdout, stderr)
	}
	// Its verbs follow its contract without the flag, and refuse another prefix.
	if stdout, _, err := cliRun(ctx, nil, "-s", url, "--stream", "STAGING", "--json", "watch", "--all", "--count", "1"); err != nil || !strings.Contains(stdout, `"key":"alice"`) {
		t.Errorf("watch of the second stream = %v, %s; want alice's event", err, stdout)
	}
	if _, _, err := cliRun(ctx, nil, "-s", url, "--stream", "STAGING", "--subject-prefix", "jwtrevoke.v1", "revoke", "subject", "bob"); err == nil || !strings.Contains(err.Error(), "--subject-prefix jwtrevoke.v1") {
		t.Errorf("revoke on the second stream with the first's prefix = %v, want a contract error naming --subject-prefix", err)
	}
}

// TestCLINotANATSServerGreeting: a server that answers with something
// other than NATS's INFO greeting (it hangs up, it speaks HTTP) is named as
// not a NATS server instead of reported as a bare EOF.
func TestCLINotANATSServerGreeting(t *testing.T) {
	ctx := clitest.Context(t, 3*time.Minute)
	for name, answer := range map[string]func(net.Conn){
		"hangs up":    func(c net.Conn) {},
		"speaks HTTP": func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n") },
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				answer(c)
				c.Close()
			}
		}()
		_, _, err = cliRun(ctx, nil, "-s", ln.Addr().String(), "status")
		t.Logf("status against a server that %s: %v", name, err)
		if err == nil || !strings.Contains(err.Error(), "not a NATS server") {
			t.Errorf("status against a server that %s = %v, want an error saying it is not a NATS server", name, err)
		}
	}
}
