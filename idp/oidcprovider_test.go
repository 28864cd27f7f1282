package idp_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/gobuild"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

const opDir = "testdata/op"

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Remove()
	os.Exit(code)
}

// child is a process the test stops at its end, its output kept for a
// failure.
type child struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out strings.Builder
}

func (c *child) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func startChild(t *testing.T, name string, args []string, env ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(name, args...)}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { c.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), c.output())
		}
	})
	return c
}

// flow is a browser's side of a login at the provider: a cookie jar, and
// redirects followed by hand so each step can be read.
type flow struct {
	t      *testing.T
	client *http.Client
}

func newFlow(t *testing.T) *flow {
	jar, _ := cookiejar.New(nil)
	return &flow{t: t, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and follows redirects within the provider until a
// page, or a redirect to the client (which it returns unfollowed).
func (f *flow) do(method, u string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			f.t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := f.client.Do(req)
		if err != nil {
			f.t.Fatalf("%s %s: %v", method, u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			return resp, string(b)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			f.t.Fatal(err)
		}
		if next.Host != resp.Request.URL.Host {
			return resp, next.String() // to the client: the callback
		}
		method, u, form = http.MethodGet, next.String(), nil
	}
	f.t.Fatalf("%s: too many redirects", u)
	return nil, ""
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// submit posts the page's first form whose action contains action, with
// its hidden inputs and fields.
func (f *flow) submit(base, page, action string, fields url.Values) (*http.Response, string) {
	f.t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], action) {
			continue
		}
		form := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			form.Set(h[1], html.UnescapeString(h[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		u, err := url.Parse(base)
		if err != nil {
			f.t.Fatal(err)
		}
		target, _ := u.Parse(html.UnescapeString(m[1]))
		return f.do(http.MethodPost, target.String(), form)
	}
	f.t.Fatalf("no form to %s in the page:\n%s", action, page)
	return nil, ""
}

// TestOIDCProviderLogout: a real OpenID Provider (panva's oidc-provider)
// with jwtrevoke serve registered as its client's backchannel_logout_uri.
// A user logs in through the provider's own pages and gets a JWT access
// token, which three replicas accept; the user logs out at the provider
// (RP-initiated logout), the provider sends serve a logout token, and
// every replica then refuses the access token. The time from the logout
// to the last replica refusing is logged.
func TestOIDCProviderLogout(t *testing.T) {
	if _, err := os.Stat(filepath.Join(opDir, "node_modules", "oidc-provider")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("oidc-provider is not installed in %s (.ci/run: npm ci --prefix %s)", opDir, opDir)
		}
		t.Skipf("oidc-provider is not installed: npm ci --prefix idp/%s", opDir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("no node")
	}
	ps, err := freeport.Take(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ps...) })
	opAddr, serveAddr := "127.0.0.1:"+strconv.Itoa(ps[0]), "127.0.0.1:"+strconv.Itoa(ps[1])
	iss := "http://" + opAddr

	op := startChild(t, "node", []string{filepath.Join(opDir, "provider.mjs"), strconv.Itoa(ps[0]), "http://" + serveAddr + "/backchannel-logout"})
	testkit.Eventually(t, "the provider listening", func() bool { return strings.Contains(op.output(), "listening "+iss) })

	ns := testkit.NATS(t, "")
	bin, err := gobuild.Binary("github.com/jwtrevoke/jwtrevoke/cmd/jwtrevoke")
	if err != nil {
		t.Fatal(err)
	}
	startChild(t, bin, []string{"serve", "--max-lifetime", testkit.TokenLifetime.String(), "--server", ns.ClientURL(), "--listen", serveAddr, "--snapshot-every", "0",
		"--client", "orders-api:orders-api-secret-0123456789",
		"--jwks-url", iss + "/jwks", "--oidc-issuer", iss, "--oidc-client-id", "orders-app"})
	testkit.Eventually(t, "serve ready", func() bool {
		resp, err := http.Get("http://" + serveAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// Three API replicas, each an agent on the stream with the provider's keys.
	applied := make(chan time.Time, 16)
	var replicas []*agent.Agent
	for range 3 {
		replicas = append(replicas, testkit.NewAgent(t, testkit.Connect(t, ns.ClientURL()),
			agent.WithOnApply(func(jwtrevoke.Revocation, uint64) { applied <- time.Now() })))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	jwks, err := keyset.NewJWKS(ctx, []string{iss + "/jwks"})
	if err != nil {
		t.Fatal(err)
	}
	defer jwks.Close()
	v, err := verify.New(jwks, []string{"RS256", "PS256", "ES256", "EdDSA"}, verify.WithIssuer(iss), verify.WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}

	// Log in: authorization code with PKCE through the provider's pages.
	f := newFlow(t)
	verifier := make([]byte, 32)
	rand.Read(verifier)
	cv := base64.RawURLEncoding.EncodeToString(verifier)
	sum := sha256.Sum256([]byte(cv))
	authz := iss + "/auth?" + url.Values{
		"client_id": {"orders-app"}, "response_type": {"code"}, "scope": {"openid orders"},
		"redirect_uri": {"http://127.0.0.1/callback"}, "state": {"s1"}, "resource": {"https://api.example"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	_, page := f.do(http.MethodGet, authz, nil)
	_, page = f.submit(iss, page, "/interaction/", url.Values{"login": {"alice"}, "password": {"any"}})
	if !strings.HasPrefix(page, "http://127.0.0.1/callback") {
		_, page = f.submit(iss, page, "/interaction/", nil) // consent
	}
	cb, err := url.Parse(page)
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("no authorization code; the provider ended at:\n%s", page)
	}
	resp, body := f.do(http.MethodPost, iss+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1/callback"},
		"code_verifier": {cv}, "client_id": {"orders-app"}, "client_secret": {"orders-app-secret-0123456789abcdef"},
		"resource": {"https://api.example"},
	})
	var tokens struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(body), &tokens); err != nil || resp.StatusCode != 200 || tokens.AccessToken == "" {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
	}
	_, at, err := v.Verify(tokens.AccessToken)
	if err != nil {
		t.Fatalf("the provider's access token does not verify: %v", err)
	}
	if at.Session == "" {
		t.Fatal("the access token has no sid: the provider's extraTokenClaims did not run")
	}
	for i, a := range replicas {
		if res := a.Check(&at); !res.Allowed {
			t.Fatalf("replica %d refuses the fresh access token: %s", i, res.Reason())
		}
	}

	// Log out at the provider: RP-initiated logout, confirmed on its page.
	_, page = f.do(http.MethodGet, iss+"/session/end?"+url.Values{
		"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {"http://127.0.0.1/logged-out"}, "client_id": {"orders-app"},
	}.Encode(), nil)
	loggedOut := time.Now()
	_, page = f.submit(iss, page, "/session/end/confirm", url.Values{"logout": {"yes"}})
	if !strings.HasPrefix(page, "http://127.0.0.1/logged-out") {
		t.Fatalf("logout did not end at the post-logout redirect:\n%s", page)
	}
	confirmed := time.Since(loggedOut)
	var last time.Time
	for i := range replicas {
		select {
		case at := <-applied:
			last = at
		case <-ctx.Done():
			t.Fatalf("only %d of 3 replicas applied the logout", i)
		}
	}
	for i, a := range replicas {
		if res := a.Check(&at); res.Allowed || res.Reason() != jwtrevoke.ReasonRevoked {
			t.Errorf("replica %d after the logout: allowed %v reason %q, want revoked", i, res.Allowed, res.Reason())
		}
	}
	t.Logf("logout at the provider → refused by the last of 3 replicas: %v (the provider's logout page answered after %v)",
		last.Sub(loggedOut).Round(time.Microsecond), confirmed.Round(time.Microsecond))
	// The provider logs its side once the fetch has resolved, which may
	// be after its logout page answered.
	testkit.Eventually(t, "the provider reporting its back-channel logout a success", func() bool {
		return strings.Contains(op.output(), "backchannel.success orders-app")
	})
	// The metric counts it.
	mresp, err := http.Get("http://" + serveAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	sc := bufio.NewScanner(mresp.Body)
	found := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `jwtrevoke_backchannel_logout_total{outcome="session"} 1`) {
			found = true
		}
	}
	if !found {
		t.Error("serve's /metrics does not count the session logout")
	}
}
