package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// TestDemoPage opens the demo page in headless Chromium, signs in as
// alice, sees every replica answer 200, logs out and sees every replica
// refuse the token; then logs in again, logs out everywhere and logs
// straight back in, and sees the new token accepted while the earlier one
// is refused. It saves full-page screenshots along the way.
func TestDemoPage(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome): apt-get install -y chromium")
	}
	shots := os.Getenv("JWTREVOKE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildJWTRevoke(ctx, t)
	const replicas = 3
	base := startDemo(ctx, t, bin, replicas)

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
	)...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()

	// Any JavaScript exception or non-network console error fails the
	// test: a CSP violation or a broken script shows up here. (A 401 from
	// a replica logs a network error, which is the point of the demo.)
	var (
		pageErrsMu sync.Mutex
		pageErrs   []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error"
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				msg = fmt.Sprintf("%s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
		if msg != "" {
			pageErrsMu.Lock()
			pageErrs = append(pageErrs, msg)
			pageErrsMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// cards waits until every replica card shows status for the current
	// token, with text in its verdict, and (if prev is set) the earlier
	// token's status.
	cards := func(what, status, text, prev string) {
		t.Helper()
		expr := fmt.Sprintf(`[...Array(%d).keys()].every((i) => {
			const c = document.querySelector('#replica-' + (i + 1));
			return c && c.dataset.status === %q &&
				c.querySelector('.verdict').textContent.includes(%q) &&
				(%q === '' || c.dataset.prevStatus === %q);
		})`, replicas, status, text, prev, prev)
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			states, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.card')].map((c) => c.id + '=' + c.dataset.status + ' ' + c.querySelector('.verdict').textContent.trim().replace(/\s+/g, ' ')).join('; ')`))
			log, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#log")))
			t.Fatalf("%s: cards are not all %s %q (prev %q): %v\ncards: %s\nactivity:\n%s", what, status, text, prev, err, states, log)
		}
	}
	enabled := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](fmt.Sprintf(`!document.querySelector(%q).disabled`, id), chromedp.WithPollingTimeout(10*time.Second))(ctx, tg)
			return err
		})
	}
	shot := func(name string) {
		t.Helper()
		step("settle before "+name, enabled("#call"), chromedp.Sleep(600*time.Millisecond)) // let the cards' flash fade
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// The page keeps the last user name; start from empty fields.
	clearInputs := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { for (const id of ['username', 'password']) document.getElementById(id).value = ''; return true; })()`)(ctx, tg)
		return err
	})
	signIn := func(user string) {
		t.Helper()
		step("sign in as "+user,
			chromedp.WaitVisible(chromedp.ID("username")),
			clearInputs,
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), user),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("token-view")),
		)
	}

	step("open the page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID(fmt.Sprintf("replica-%d", replicas))),
		chromedp.WaitVisible(chromedp.ID(fmt.Sprintf("status-%d", replicas))),
	)
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#conn').dataset.state === 'live' &&
		[...document.querySelectorAll('.pill')].every((p) => p.dataset.state === 'ready')`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("replicas never shown ready: %v", err)
	}

	// Sign in, call every replica: 200 alice everywhere.
	signIn("alice")
	step("call all replicas", enabled("#call"), chromedp.Click(chromedp.ID("call")))
	cards("after login", "200", "alice", "")
	if who, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("who-name"))); err != nil || who != "alice" {
		t.Fatalf("signed-in name = %q, %v; want alice", who, err)
	}
	shot("demo-after-login.png")

	// Log out, call again: 401 revoked everywhere.
	step("log out", enabled("#logout"), chromedp.Click(chromedp.ID("logout")))
	step("call all replicas again", enabled("#call"), chromedp.Click(chromedp.ID("call")))
	cards("after logout", "401", "revoked", "")
	if st, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.ID("token-state"), "data-state")); err != nil || st.Value != "revoked" {
		t.Fatalf("token state after logout = %q, %v; want revoked", st.Value, err)
	}
	shot("demo-after-logout.png")

	// Log in again, log out everywhere, log straight back in: the new
	// token works everywhere, the one before it is refused everywhere.
	signIn("alice")
	cards("after signing in again", "200", "alice", "401")
	step("log out everywhere", enabled("#logout-all"), chromedp.Click(chromedp.ID("logout-all")))
	cards("after logout-all", "401", "revoked", "")
	signIn("alice")
	step("call all replicas with the new token", enabled("#call"), chromedp.Click(chromedp.ID("call")))
	cards("after logging straight back in", "200", "alice", "401")
	shot("demo-after-logout-all-and-relogin.png")

	pageErrsMu.Lock()
	defer pageErrsMu.Unlock()
	for _, e := range pageErrs {
		t.Errorf("page error: %s", e)
	}
}

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// buildJWTRevoke builds the jwtrevoke command of the parent module, or
// returns $JWTREVOKE_BIN when it names a binary already built.
func buildJWTRevoke(ctx context.Context, t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("JWTREVOKE_BIN"); bin != "" {
		return bin
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/jwtrevoke/jwtrevoke\n")) {
		t.Fatalf("%s is not the jwtrevoke module root (%v)", root, err)
	}
	out := filepath.Join(t.TempDir(), "jwtrevoke")
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", out, "github.com/jwtrevoke/jwtrevoke/cmd/jwtrevoke")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building jwtrevoke: %v\n%s", err, b)
	}
	return out
}

// startDemo starts `jwtrevoke demo` on free loopback ports and returns
// the issuer's URL once every part answers /readyz. The process gets
// SIGTERM when the test ends and must exit 0.
func startDemo(ctx context.Context, t *testing.T, bin string, replicas int) string {
	t.Helper()
	port := freePortBlock(t, replicas)
	cmd := exec.Command(bin, "demo",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--replicas", strconv.Itoa(replicas),
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", freePortBlock(t, 0)),
		"--data", t.TempDir())
	cmd.Env = append(os.Environ(), "NATS_URL=")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("demo after SIGTERM: %v, want exit 0", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("demo did not exit within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i <= replicas; i++ {
		url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port+i)
		for {
			res, err := hc.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-exited:
				t.Fatalf("demo exited before it was ready: %v\n%s", err, out.String())
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(25 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready within 30s\n%s", url, out.String())
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Web page") {
			t.Logf("demo: %s", strings.TrimSpace(sc.Text()))
		}
	}
	return base
}

// freePortBlock returns a port p such that p..p+n on 127.0.0.1 are
// reserved for this test (internal/freeport), so nothing else takes them
// before the demo binds them.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	p, err := freeport.Block(n + 1)
	if err != nil {
		t.Fatalf("reserving %d consecutive ports: %v", n+1, err)
	}
	t.Cleanup(func() {
		for i := 0; i <= n; i++ {
			freeport.Release(p + i)
		}
	})
	return p
}

// lockedBuffer is an io.Writer safe for the child's two output streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
