package deploy_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterTLS turns TLS on the way deploy/README.md says — certificates
// from tls/gen-certs.sh, the two commented includes in cluster.conf
// uncommented — and boots the cluster: routes between the nodes and client
// connections are TLS, and a client that does not trust the CA cannot connect.
func TestClusterTLS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("skipping: gen-certs.sh needs openssl")
	}
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	out, err := exec.Command("sh", filepath.Join(natsDir, "tls", "gen-certs.sh"), certs).CombinedOutput()
	if err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}

	// A copy of deploy/nats with the README's two edits, and the certificate
	// paths pointed at the generated files instead of /etc/nats/tls.
	conf := filepath.Join(dir, "nats")
	edits := map[string]int{
		"# include ./tls/cluster-tls.conf": 0,
		"# include ./tls/client-tls.conf":  0,
	}
	for _, pattern := range []string{"*.conf", "tls/*.conf"} {
		files, err := filepath.Glob(filepath.Join(natsDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for e := range edits {
				if strings.Contains(s, e) {
					edits[e]++
					s = strings.ReplaceAll(s, e, strings.TrimPrefix(e, "# "))
				}
			}
			s = strings.ReplaceAll(s, "/etc/nats/tls/", certs+"/")
			rel, _ := filepath.Rel(natsDir, f)
			dst := filepath.Join(conf, rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for e, n := range edits {
		if n != 1 {
			t.Fatalf("deploy/nats has %q %d times, want once (deploy/README.md tells operators to remove its #)", e, n)
		}
	}
	files, err := filepath.Glob(filepath.Join(conf, "nats-*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := bootCluster(t, files)

	// The meta leader above was elected over these routes, which require
	// TLS with verified certificates on both ends.
	for i, s := range c.servers {
		v, err := s.Varz(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !v.TLSRequired || !v.Cluster.TLSRequired || !v.Cluster.TLSVerify {
			t.Errorf("node %d: client TLS required %v, route TLS required %v verified %v; want all true",
				i+1, v.TLSRequired, v.Cluster.TLSRequired, v.Cluster.TLSVerify)
		}
		if s.NumRoutes() == 0 {
			t.Errorf("node %d has no routes", i+1)
		}
	}

	// An agent over TLS, trusting the generated CA, with its password.
	ca := filepath.Join(certs, "ca.pem")
	nc := c.connectAs(t, "agent", c.users["agent"].password, "tls", nats.RootCAs(ca))
	if !nc.TLSRequired() {
		t.Errorf("agent connection is not TLS")
	}
	js, err := jetstream.New(nc.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // one request; a hang guard
	defer cancel()
	if _, err := js.Stream(ctx, "JWTREVOKE"); err != jetstream.ErrStreamNotFound {
		t.Errorf("agent over TLS: stream lookup on a new cluster = %v, want %v", err, jetstream.ErrStreamNotFound)
	}

	// A client that does not trust the CA cannot connect, even with the
	// right password (nats.go upgrades to TLS when the server requires it,
	// and then fails to verify the server's certificate). The error must
	// say so: a connection that merely timed out on a slow machine proves
	// nothing.
	nc2, err := nats.Connect(c.clientURLs("nats"), nats.UserInfo("agent", c.users["agent"].password), nats.Timeout(time.Minute), nats.MaxReconnects(0))
	var unknownCA x509.UnknownAuthorityError
	switch {
	case err == nil:
		nc2.Close()
		t.Errorf("a client without the CA connected, want refused")
	case !errors.As(err, &unknownCA):
		t.Errorf("a client without the CA: %v, want its TLS handshake to fail on the unknown certificate authority", err)
	}
}
