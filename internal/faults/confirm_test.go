package faults

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// TestConfirmAndReadYourRevocation: three replicas, one behind a link
// with 150 ms of latency each way. A logout confirmed on 3 returns only
// once the slow replica has applied it, and every replica refuses the
// token then; one confirmed on 3 within 30 ms cannot be, and says it got
// at most the two fast ones. A request that carries the logout's
// sequence (Jwtrevoke-Seq) to the slow replica waits for it there and is
// refused as revoked, never served with the old token; with a wait too
// short for the link it is refused as stale, never served either.
func TestConfirmAndReadYourRevocation(t *testing.T) {
	parallel(t)
	const latency = 150 * time.Millisecond
	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
	var replicas []*agent.Agent
	for range 2 {
		replicas = append(replicas, testkit.NewAgent(t, dial(t, srv.URL())))
	}
	l := newLink(t, "confirm-slow", srv.URL())
	slow := testkit.NewAgent(t, dial(t, l.url), agent.WithName("slow"))
	replicas = append(replicas, slow)
	l.slow(t, int(latency/time.Millisecond), 0)

	keys := testkit.HMACKeys()
	api := func(wait time.Duration) http.Handler {
		mw, err := verify.Middleware(slow, keys, []string{"HS256"}, verify.WithSeqWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		return mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}
	ask := func(h http.Handler, tok string, seq uint64) (int, string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set(jwtrevoke.SeqHeader, strconv.FormatUint(seq, 10))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	ctx := context.Background()

	// Confirmed on all three: the slow one too.
	tok1 := jtiToken("confirm-1")
	start := time.Now()
	rc, err := pub.RevokeJTI(ctx, tok1.JTI, tokenExp, publisher.Confirm(3, testkit.Patience))
	if err != nil {
		t.Fatalf("Confirm(3): %v", err)
	}
	took := time.Since(start)
	for i, a := range replicas {
		if a.LastApplied() < rc.Seq || a.Check(&tok1).Allowed {
			t.Errorf("replica %d: applied %d of %d when the confirmed revoke returned", i, a.LastApplied(), rc.Seq)
		}
	}
	t.Logf("confirmed on 3 replicas (one behind %v each way) %v after the call began", latency, took.Round(time.Millisecond))

	// Too short for the slow link: at most the two fast ones.
	rc2, err := pub.RevokeJTI(ctx, "confirm-2", tokenExp, publisher.Confirm(3, 30*time.Millisecond))
	var ce *publisher.ConfirmError
	if !errors.As(err, &ce) || ce.Got > 2 || ce.Seq != rc2.Seq {
		t.Errorf("Confirm(3) within 30 ms behind a %v link: %v, want a ConfirmError with at most 2", latency, err)
	}
	testkit.WaitApplied(t, slow, rc2.Seq)

	// Read your revocation at the slow replica: the request waits for it.
	signed := func(jti string) string {
		return testkit.SignHS256(t, testkit.HMACKey, testkit.Claims(jti, "alice", "s", time.Now().Add(-time.Minute)), "")
	}
	raw := signed("ryr-1")
	if code, body := ask(api(10*time.Second), raw, slow.LastApplied()); code != http.StatusNoContent {
		t.Fatalf("before the logout: %d %s", code, body)
	}
	rc3, err := pub.RevokeJTI(ctx, "ryr-1", tokenExp)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	code, body := ask(api(10*time.Second), raw, rc3.Seq)
	if code != http.StatusUnauthorized || !strings.Contains(body, `"revoked"`) {
		t.Errorf("with Jwtrevoke-Seq %d at the slow replica: %d %s, want 401 revoked", rc3.Seq, code, body)
	}
	t.Logf("the request with the logout's sequence waited %v at the slow replica", time.Since(start).Round(time.Millisecond))

	// A wait shorter than the link: refused as stale, not served.
	raw = signed("ryr-2")
	rc4, err := pub.RevokeJTI(ctx, "ryr-2", tokenExp)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := ask(api(20*time.Millisecond), raw, rc4.Seq); code != http.StatusUnauthorized || !strings.Contains(body, `"stale"`) {
		t.Errorf("with a 20 ms wait behind a %v link: %d %s, want 401 stale", latency, code, body)
	}
	if code, _ := ask(api(20*time.Millisecond), raw, 0); code != http.StatusUnauthorized {
		t.Errorf("Jwtrevoke-Seq 0: %d, want 401 (not a sequence)", code)
	}
}
