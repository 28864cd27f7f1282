package clitool

import (
	"strings"
	"testing"
)

// TestServerURL: --server wins, then NATS_URL, then the nats CLI's
// default, nats://127.0.0.1:4222.
func TestServerURL(t *testing.T) {
	for i, tc := range []struct {
		flag, env, want string
	}{
		{"", "", DefaultServer},
		{"", "nats://env:4222", "nats://env:4222"},
		{"nats://flag:4222", "nats://env:4222", "nats://flag:4222"},
		{"nats://flag:4222", "", "nats://flag:4222"},
	} {
		t.Setenv("NATS_URL", tc.env)
		g := &Globals{Server: tc.flag}
		if got := g.ServerURL(); got != tc.want {
			t.Errorf("step %d: ServerURL() with --server %q, NATS_URL %q = %q, want %q", i, tc.flag, tc.env, got, tc.want)
		}
	}
}

func TestRedactURLs(t *testing.T) {
	got := RedactURLs("nats://agent:secret@n1:4222,nats://n2:4222")
	if strings.Contains(got, "secret") || !strings.Contains(got, "n2:4222") {
		t.Errorf("RedactURLs() = %q, want the password hidden and the hosts kept", got)
	}
}
