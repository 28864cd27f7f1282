package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

	bin := buildJWTRevoke(t) // before the test's clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const replicas = 3
	base, stopDemo := startDemo(ctx, t, bin, replicas)

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		// Chromium prints its DevTools URL within a second or two when idle;
		// chromedp's default 20 s is a bound a loaded machine can miss.
		chromedp.WSURLReadTimeout(pageWait),
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
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(pageWait), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			states, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.card')].map((c) => c.id + '=' + c.dataset.status + ' ' + c.querySelector('.verdict').textContent.trim().replace(/\s+/g, ' ')).join('; ')`))
			log, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#log")))
			t.Fatalf("%s: cards are not all %s %q (prev %q): %v\ncards: %s\nactivity:\n%s", what, status, text, prev, err, states, log)
		}
	}
	enabled := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](fmt.Sprintf(`!document.querySelector(%q).disabled`, id), chromedp.WithPollingTimeout(pageWait))(ctx, tg)
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
		[...document.querySelectorAll('.pill')].every((p) => p.dataset.state === 'ready')`, chromedp.WithPollingTimeout(pageWait))); err != nil {
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

	// Log out, call again: 401 revoked everywhere. The page waits at most
	// two seconds for the replicas to apply the revocation before it calls
	// them; the test waits for them itself (applied), so that the call
	// below comes after the revocation however slow the machine.
	step("log out", enabled("#logout"), chromedp.Click(chromedp.ID("logout")))
	step("wait for logout to finish", enabled("#call"))
	applied(ctx, t, base)
	step("call all replicas again", chromedp.Click(chromedp.ID("call")))
	cards("after logout", "401", "revoked", "")
	if st, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.ID("token-state"), "data-state")); err != nil || st.Value != "revoked" {
		t.Fatalf("token state after logout = %q, %v; want revoked", st.Value, err)
	}
	shot("demo-after-logout.png")
	// The logout answered once every agent had confirmed applying it, so
	// the page's own call right after it found every replica refusing.
	if line, err := chromedp.Run(bctx, chromedp.Poll[string](`(() => {
		const l = [...document.querySelectorAll('#log li')].map((li) => li.textContent).find((s) => s.includes('Refused on '));
		return l || false;
	})()`, chromedp.WithPollingTimeout(pageWait))); err != nil || !regexp.MustCompile(fmt.Sprintf(`Refused on %d/%d replicas, confirmed [0-9.]+ ms after logout`, replicas, replicas)).MatchString(line) {
		t.Errorf("activity log after logout: %q, %v; want every replica refusing and the logout confirmed", line, err)
	}
	// Each replica draws its recent propagation lags: the logout's events
	// are among them.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`[...document.querySelectorAll('[data-role="spark"]')].length === `+strconv.Itoa(replicas)+` &&
		[...document.querySelectorAll('[data-role="spark"]')].every((f) => Number(f.dataset.points) >= 1 &&
			f.querySelector('polyline').getAttribute('points').split(' ').length >= 2)`, chromedp.WithPollingTimeout(pageWait))); err != nil {
		t.Errorf("lag sparklines after logout: %v; want one per replica with the logout's lags", err)
	}
	shot("demo-after-logout-sparklines.png")

	// Log in again, log out everywhere, log straight back in: the new
	// token works everywhere, the one before it is refused everywhere.
	signIn("alice")
	cards("after signing in again", "200", "alice", "401")
	step("log out everywhere", enabled("#logout-all"), chromedp.Click(chromedp.ID("logout-all")))
	step("wait for logout-all to finish", enabled("#call"))
	// The page calls the replicas itself once they have applied the cut-off,
	// or once two seconds have passed. In the first case (it logs "applied
	// on all") its cards must show 401 now; in the second the test waits
	// for the replicas and calls again.
	if logoutAllApplied(t, bctx) {
		cards("after logout-all", "401", "revoked", "")
	} else {
		t.Log("the page called the replicas before they applied the cut-off; calling again once they have")
		applied(ctx, t, base)
		step("call all replicas after logout-all", chromedp.Click(chromedp.ID("call")))
		cards("after logout-all, called again", "401", "revoked", "")
	}
	signIn("alice")
	step("call all replicas with the new token", enabled("#call"), chromedp.Click(chromedp.ID("call")))
	cards("after logging straight back in", "200", "alice", "401")
	shot("demo-after-logout-all-and-relogin.png")

	// The issuer goes away: the page stops showing the replicas as ready
	// with their last numbers, and greys them out as unreachable.
	stopDemo()
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#conn').dataset.state === 'down' &&
		[...document.querySelectorAll('.pill')].every((p) => p.dataset.state === 'unknown' && p.textContent === 'unreachable') &&
		[...document.querySelectorAll('.metrics')].every((m) => m.dataset.unknown === 'true' &&
			[...m.querySelectorAll('dd')].every((d) => d.textContent === '\u2013'))`, chromedp.WithPollingTimeout(pageWait))); err != nil {
		pills, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.card')].map((c) => c.id + ': ' + c.querySelector('.pill').dataset.state + ' ' + c.querySelector('.metrics').textContent.trim().replace(/\s+/g, ' ')).join('; ')`))
		t.Fatalf("after the demo stopped, the replicas are not shown as unreachable: %v\n%s", err, pills)
	}
	shot("demo-issuer-unreachable.png")

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

// pageWait bounds each wait for the page to show something (a button
// enabled, the cards updated): the page answers within a second on an idle
// machine, and headless Chromium on a loaded two-core CI machine is
// several times slower. Each wait ends at its event; the bound only turns
// a hang into a failure.
const pageWait = time.Minute

// logoutAllApplied reports whether the page's activity log says that the
// replicas had applied the latest log-out-everywhere cut-off when the page
// called them (rather than giving up after two seconds).
func logoutAllApplied(t *testing.T, bctx context.Context) bool {
	t.Helper()
	state, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => {
		const lines = [...document.querySelectorAll('#log li')].map((li) => li.textContent);
		const m = lines.map((s) => s.match(/Logged out everywhere: .*\(stream seq (\d+)\)/)).find(Boolean);
		if (!m) return 'no logout-all';
		return lines.some((s) => s.includes('Revocation (stream seq ' + m[1] + ') applied on all')) ? 'applied' : 'behind';
	})()`))
	if err != nil || (state != "applied" && state != "behind") {
		t.Fatalf("activity log after logout-all: %q, %v; want it to say whether the replicas applied the cut-off", state, err)
	}
	return state == "applied"
}

// applied waits until every replica has applied the stream up to its last
// sequence, as the issuer's /api/status reports it.
func applied(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	hc := &http.Client{Timeout: pageWait}
	for {
		var st struct {
			LastSeq  uint64 `json:"last_seq"`
			Replicas []struct {
				LastApplied uint64 `json:"last_applied"`
			} `json:"replicas"`
		}
		res, err := hc.Get(base + "/api/status")
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
		}
		if err == nil && st.LastSeq > 0 && len(st.Replicas) > 0 {
			behind := 0
			for _, r := range st.Replicas {
				if r.LastApplied < st.LastSeq {
					behind++
				}
			}
			if behind == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replicas never applied the stream up to its last sequence: %+v, %v", st, err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// buildTimeout bounds the build of the binary. It only guards against a
// hung toolchain: the build takes seconds with the cache `go test ./...`
// of the parent module leaves, and minutes with a cold cache on a loaded
// two-core machine. It runs before the test's own clock starts.
const buildTimeout = 10 * time.Minute

// buildJWTRevoke builds the jwtrevoke command of the parent module, or
// returns $JWTREVOKE_BIN when it names a binary already built.
func buildJWTRevoke(t *testing.T) string {
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
	bctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
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
// the issuer's URL once every part answers /readyz, and a function that
// stops it. The process gets SIGTERM when stop is called or the test
// ends, and must exit 0.
func startDemo(ctx context.Context, t *testing.T, bin string, replicas int) (base string, stop func()) {
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("demo after SIGTERM: %v, want exit 0", err)
				}
			case <-time.After(pageWait): // it exits in tens of milliseconds
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("demo did not exit within %v of SIGTERM", pageWait)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})

	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	// Each part is ready when its /readyz says so; the demo exiting first
	// fails at once, and the test's context bounds the whole wait.
	hc := &http.Client{Timeout: pageWait}
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
				t.Fatalf("%s not ready: %v\n%s", url, ctx.Err(), out.String())
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Web page") {
			t.Logf("demo: %s", strings.TrimSpace(sc.Text()))
		}
	}
	return base, stop
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
