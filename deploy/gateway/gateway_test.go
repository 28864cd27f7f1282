// Package gateway tests the gateway configurations of deploy/gateway: real
// nginx and Caddy in front of an API that is not Go (python3's http.server),
// each with jwtrevoke serve as its sidecar, and the logout story through
// them.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/gobuild"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

const adminToken = "gateway-test-admin-token-0123456789"

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Remove()
	os.Exit(code)
}

// proc is a child process the test stops at its end.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	log    *syncBuffer
	exited chan struct{} // closed when it has exited
}

// syncBuffer is a bytes.Buffer the child's output goroutines and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, addr string, name string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), addr: addr, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.log.String())
		}
	})
	return p
}

func (p *proc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// alive fails the test at once if p has exited.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s exited: %v\n%s", p.cmd.Path, p.cmd.ProcessState, p.log.String())
	default:
	}
}

// listening waits until p accepts connections (or fails if it exits).
func (p *proc) listening(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, p.cmd.Path+" listening on "+p.addr, func() bool {
		p.alive(t)
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func ports(t *testing.T, n int) []string {
	t.Helper()
	ps, err := freeport.Take(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ps...) })
	out := make([]string, n)
	for i, p := range ps {
		out[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return out
}

// render fills the placeholders of a file of this directory.
func render(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	if strings.Contains(s, "${") {
		t.Fatalf("%s: a placeholder is left", name)
	}
	return s
}

// sidecar starts jwtrevoke serve on natsURL, verifying the tests' HMAC
// tokens, with the flags more (and --public-client unless they have
// --check-only), and waits until it is ready.
func sidecar(t *testing.T, natsURL, addr string, more ...string) *proc {
	t.Helper()
	bin, err := gobuild.Binary("github.com/jwtrevoke/jwtrevoke/cmd/jwtrevoke")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--server", natsURL, "--listen", addr, "--snapshot-every", "0"}
	if !slices.Contains(more, "--check-only") {
		args = append(args, "--public-client")
	}
	p := start(t, addr, bin, append(args, more...),
		"JWTREVOKE_HMAC_SECRET="+string(testkit.HMACKey), "JWTREVOKE_ADMIN_TOKEN="+adminToken)
	testkit.Eventually(t, "serve ready at "+addr, func() bool {
		p.alive(t)
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// logout revokes session sid at sidecar car's admin API.
func logout(t *testing.T, car *proc, sid string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+car.addr+"/admin/revoke", strings.NewReader(`{"kind":"sid","key":"`+sid+`","reason":"logout"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin revoke: status %d", resp.StatusCode)
	}
}

// gatewayKind starts one gateway instance in front of upstream with its
// sidecar, from the file in this directory.
type gatewayKind struct {
	name  string
	bin   string
	start func(t *testing.T, listen, sidecar, upstream string) *proc
}

var kinds = []gatewayKind{
	{"nginx", "nginx", func(t *testing.T, listen, sidecar, upstream string) *proc {
		dir := t.TempDir()
		server := render(t, "nginx.conf", map[string]string{"LISTEN": listen, "SIDECAR": sidecar, "UPSTREAM": upstream})
		if err := os.WriteFile(filepath.Join(dir, "server.conf"), []byte(server), 0o644); err != nil {
			t.Fatal(err)
		}
		// The process settings of a test run: one process in the
		// foreground, everything under dir. The server block is the file
		// as shipped.
		main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/server.conf;
}
`, dir)
		if err := os.WriteFile(filepath.Join(dir, "main.conf"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		return start(t, listen, "nginx", []string{"-p", dir, "-c", filepath.Join(dir, "main.conf")})
	}},
	{"caddy", "caddy", func(t *testing.T, listen, sidecar, upstream string) *proc {
		dir := t.TempDir()
		conf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(conf, []byte(render(t, "Caddyfile", map[string]string{"LISTEN": listen, "SIDECAR": sidecar, "UPSTREAM": upstream})), 0o644); err != nil {
			t.Fatal(err)
		}
		return start(t, listen, "caddy", []string{"run", "--config", conf, "--adapter", "caddyfile"}, "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	}},
}

type answer struct {
	status   int
	identity map[string]string
	header   http.Header
}

func call(t *testing.T, gw string, token string, extra http.Header) answer {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+gw+"/api/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET through %s: %v", gw, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == 200 {
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &a.identity); err != nil {
			t.Fatalf("upstream answer %q: %v", body, err)
		}
	}
	return a
}

// TestGatewayLogout replays the story through each gateway, two instances
// each with its own --check-only sidecar: a user's token passes and the
// API sees who it is (a forged identity header never reaches it); after
// logout (a session revocation at a central serve) the old token is
// refused at every instance,
// the new session's token passes; a gateway whose sidecar is down refuses.
func TestGatewayLogout(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if _, err := exec.LookPath(k.bin); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not installed (.ci/run installs it)", k.bin)
				}
				t.Skipf("%s is not installed (apt-get install %s)", k.bin, k.bin)
			}
			ns := testkit.NATS(t, "")
			addrs := ports(t, 6) // upstream, 2 sidecars, 2 gateways, the central serve
			up := start(t, addrs[0], "python3", []string{"upstream.py", strings.TrimPrefix(addrs[0], "127.0.0.1:")})
			up.listening(t)
			central := sidecar(t, ns.ClientURL(), addrs[5]) // where logouts go; it creates the stream
			var gws []*proc
			var cars []*proc
			for i := range 2 {
				car := sidecar(t, ns.ClientURL(), addrs[1+i], "--check-only")
				cars = append(cars, car)
				gw := k.start(t, addrs[3+i], car.addr, up.addr)
				gw.listening(t)
				gws = append(gws, gw)
			}
			iat := time.Now().Add(-time.Minute)
			old := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-login-1", "alice", "sess-1", iat), "")
			c := testkit.Claims("jti-service", "batch-job", "", iat)
			delete(c, "sid")
			noSID := testkit.SignHS256(t, testkit.HMACKey, c, "")
			for i, gw := range gws {
				a := call(t, gw.addr, old, http.Header{"X-Auth-Subject": {"mallory"}, "X-Auth-Session": {"forged"}, "Jwtrevoke-Stale": {"forged"}})
				if a.status != 200 {
					t.Fatalf("gateway %d: logged-in call: status %d, want 200", i, a.status)
				}
				if want := map[string]string{"X-Auth-Subject": "alice", "X-Auth-Session": "sess-1", "X-Auth-Token-Id": "jti-login-1", "Jwtrevoke-Stale": ""}; fmt.Sprint(a.identity) != fmt.Sprint(want) {
					t.Errorf("gateway %d: the API saw identity %v, want %v", i, a.identity, want)
				}
				// A token without sid: the answer has no X-Auth-Session, and
				// the client's own must not reach the API either.
				if a := call(t, gw.addr, noSID, http.Header{"X-Auth-Session": {"forged"}}); a.status != 200 || a.identity["X-Auth-Session"] != "" {
					t.Errorf("gateway %d: token without sid and a forged X-Auth-Session: status %d, the API saw %v", i, a.status, a.identity)
				}
				if a := call(t, gw.addr, "", nil); a.status != 401 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("gateway %d: no token: status %d, WWW-Authenticate %q; want 401 and a Bearer challenge", i, a.status, a.header.Get("WWW-Authenticate"))
				}
			}

			// Logout: the session is revoked at the central serve.
			loggedOut := time.Now()
			logout(t, central, "sess-1")
			acked := time.Since(loggedOut)
			for i, gw := range gws {
				testkit.Eventually(t, fmt.Sprintf("gateway %d refusing the logged-out token", i), func() bool {
					return call(t, gw.addr, old, nil).status == 401
				})
				t.Logf("%s gateway %d: old token refused %v after the logout call began (its ack took %v)", k.name, i, time.Since(loggedOut).Round(time.Microsecond), acked.Round(time.Microsecond))
				a := call(t, gw.addr, old, nil)
				if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("gateway %d: refused with WWW-Authenticate %q", i, a.header.Get("WWW-Authenticate"))
				}
			}
			fresh := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-login-2", "alice", "sess-2", time.Now()), "")
			for i, gw := range gws {
				if a := call(t, gw.addr, fresh, nil); a.status != 200 || a.identity["X-Auth-Session"] != "sess-2" {
					t.Errorf("gateway %d: new session's token: status %d identity %v, want 200 with sess-2", i, a.status, a.identity)
				}
			}

			// Fail closed: the second sidecar goes away.
			cars[1].stop()
			if a := call(t, gws[1].addr, fresh, nil); a.status == 200 {
				t.Errorf("gateway 1 passed a request with its sidecar down (status %d)", a.status)
			} else {
				t.Logf("%s with its sidecar down answers %d", k.name, a.status)
			}
		})
	}
}

// TestCheckOnlyRevokesNothing: a --check-only sidecar has no publisher, so
// its revoking routes answer 404 whatever the credentials, and nothing
// reaches the stream through it.
func TestCheckOnlyRevokesNothing(t *testing.T) {
	ns := testkit.NATS(t, "")
	addrs := ports(t, 2)
	sidecar(t, ns.ClientURL(), addrs[0]) // creates the stream
	car := sidecar(t, ns.ClientURL(), addrs[1], "--check-only")
	tok := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-x", "alice", "s", time.Now()), "")
	for _, tc := range []struct{ path, auth, body string }{
		{"/admin/revoke", "Bearer " + adminToken, `{"kind":"all"}`},
		{"/revoke", "", "token=" + tok},
	} {
		req, _ := http.NewRequest("POST", "http://"+car.addr+tc.path, strings.NewReader(tc.body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), "--check-only") {
			t.Errorf("POST %s at a --check-only serve: %d %s, want 404 naming --check-only", tc.path, resp.StatusCode, body)
		}
	}
	js := testkit.JetStream(t, testkit.Connect(t, ns.ClientURL()))
	st, err := js.Stream(context.Background(), "JWTREVOKE")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Errorf("stream after the refused revocations: %v messages (%v), want 0", info.State.Msgs, err)
	}
}
