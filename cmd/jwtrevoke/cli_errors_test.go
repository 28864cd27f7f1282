package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// TestCLINotANATSServer: an http:// or https:// server URL is refused at
// once as a usage error, and a server that answers with something other
// than NATS's INFO greeting (it hangs up, it speaks HTTP) is named as not a
// NATS server instead of reported as a bare EOF.
func TestCLINotANATSServer(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := cliContext(t, 3*time.Minute)
	tok := cliSignToken(t, "j-url", "alice", "", time.Now().Add(-time.Minute))
	for _, url := range []string{"http://127.0.0.1:8080", "https://nats.example.com", "nats://127.0.0.1:4222,http://127.0.0.1:8080"} {
		for _, verb := range [][]string{{"status"}, {"watch"}, {"revoke", "subject", "alice"}, {"check", tok, "--unverified"}} {
			args := append([]string{"--server", url}, verb...)
			if _, stderr, code := cliExec(t, ctx, nil, args...); code != clitool.ExitUsage || !strings.Contains(stderr, "not a NATS server URL (use nats://host:4222)") {
				t.Errorf("jwtrevoke %v: exit %d, stderr %q; want exit 2, not a NATS server URL", args, code, stderr)
			}
		}
	}

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

// cliPrefixRE matches the package prefixes of jwtrevoke's errors.
var cliPrefixRE = regexp.MustCompile(`jwtrevoke(/[a-z]+)?: `)

// TestCLIErrorsSayJwtrevokeOnce: the library's errors carry their package
// prefix; what the command prints starts with "jwtrevoke:" and has it
// nowhere else.
func TestCLIErrorsSayJwtrevokeOnce(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := cliContext(t, 3*time.Minute)
	url := cliServer(t)
	cliPublisher(t, ctx, cliConnect(t, url)) // a 24h stream
	for _, args := range [][]string{
		{"--server", url, "--max-lifetime", "1h", "revoke", "subject", "alice"},
		{"--server", url, "--subject-prefix", "other.v1", "revoke", "subject", "alice"},
		{"--server", url, "revoke", "subject", ""},
		{"--server", url, "--stream", "NOSUCH", "status"},
	} {
		_, stderr, code := cliExec(t, ctx, nil, args...)
		if code == 0 || !strings.HasPrefix(stderr, "jwtrevoke: ") || len(cliPrefixRE.FindAllString(stderr, -1)) != 1 {
			t.Errorf("jwtrevoke %q: exit %d, stderr %q; want an error with one jwtrevoke: prefix, at its start", args, code, stderr)
		}
	}
	tok := cliSignToken(t, "j-once", "alice", "", time.Now().Add(-time.Minute))
	_, stderr, code := cliExec(t, ctx, nil, "--server", url, "--max-lifetime", "1h", "check", tok, "--hmac-secret", cliTestSecret, "--hmac-key-id", cliTestKeyID)
	if code != checkError || !strings.HasPrefix(stderr, "jwtrevoke check: ") || len(cliPrefixRE.FindAllString(stderr, -1)) != 0 {
		t.Errorf("check against a contradicted contract: exit %d, stderr %q; want exit 2, one jwtrevoke check: prefix and no other", code, stderr)
	}
}

// TestCLISecondStreamNeedsItsOwnPrefix: a second revocation stream on the
// same server is refused by the server, whose subjects overlap the first's;
// the error says to give it --subject-prefix, and with one it works, for
// every verb.
func TestCLISecondStreamNeedsItsOwnPrefix(t *testing.T) {
	ctx := cliContext(t, 60*time.Second)
	url := cliServer(t)
	cliPublisher(t, ctx, cliConnect(t, url)) // JWTREVOKE on jwtrevoke.v1.>
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

// TestDemoJSONUnescaped: the demo's JSON error bodies keep <, > and & as
// they are.
func TestDemoJSONUnescaped(t *testing.T) {
	w := httptest.NewRecorder()
	demoOAuthError(w, http.StatusBadRequest, "invalid_request", "want Authorization: Bearer <token> & a body")
	if body := w.Body.String(); !strings.Contains(body, "Bearer <token> & a body") {
		t.Errorf("demoOAuthError body = %s, want <, > and & unescaped", body)
	}
}
