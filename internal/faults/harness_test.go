package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// debug (JWTREVOKE_DEBUG=1) sends the agents' logs to stderr.
var debug = os.Getenv("JWTREVOKE_DEBUG") == "1"

// lifetime is the max token lifetime of every publisher and agent here.
const lifetime = testkit.TokenLifetime

// mwLeeway is verify.Middleware's default clock leeway: a token is
// accepted until its exp plus this.
const mwLeeway = 30 * time.Second

// staleness is the agents' staleness bound: they probe the server every
// fifth of it, and past it without an answer they refuse (fail closed).
const staleness = time.Second

// tokenExp is the exp of every test token: inside the max lifetime (1 h),
// and far enough ahead for a full run.
var tokenExp = time.Now().Add(50 * time.Minute)

// server starts a single child-process nats-server for the test.
func server(t *testing.T, o natsproc.Options) *natsproc.Server {
	t.Helper()
	return natsproc.Run(t, o)
}

// dial connects with the reconnect settings a service would use: reconnect
// forever, quickly, and find a dead link within about a second (pings every
// 250 ms, four may be outstanding: a PONG may be a second late on a loaded
// machine before the link counts as dead; with two, half a second was
// enough to make a merely slow machine look like a dead link).
//
// The connection's asynchronous errors (a read or write on a link a case
// cut or a server it killed: "connection reset by peer", …) go to the
// test's log, named by the case, instead of nats.go's default handler,
// which writes them to the process's stderr where nothing says which case
// or connection they belong to. A case that passes its own
// nats.ErrorHandler in opts replaces this one.
func dial(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	errLog := asyncErrLog(t, url)
	base := []nats.Option{
		nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(20*time.Millisecond, 20*time.Millisecond),
		nats.Timeout(time.Second), nats.PingInterval(250 * time.Millisecond), nats.MaxPingsOutstanding(4),
		nats.ReconnectBufSize(64 << 20), nats.ErrorHandler(errLog),
		// Disconnects too: a reply in flight is lost with the connection.
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				errLog(nc, nil, fmt.Errorf("disconnected: %w", err))
			}
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		t.Fatalf("nats.Connect(%s) error = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// asyncErrLog is a nats.ErrHandler that logs to t until t's cleanups begin
// (a log call after the test ends would panic).
func asyncErrLog(t testing.TB, url string) nats.ErrHandler {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if sub != nil {
			t.Logf("nats async error on %s (subscription %q): %v", url, sub.Subject, err)
			return
		}
		t.Logf("nats async error on %s: %v", url, err)
	}
}

// jtiToken is a live token with only a jti, as the middleware would build it.
func jtiToken(jti string) jwtrevoke.Token {
	return jwtrevoke.Token{JTI: jti, IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: tokenExp}
}

// revs returns n token revocations named prefix-0 … prefix-(n-1).
func revs(prefix string, n int) []jwtrevoke.Revocation {
	now := time.Now()
	out := make([]jwtrevoke.Revocation, n)
	for i := range out {
		out[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%s-%d", prefix, i), Before: now, Expires: tokenExp}
	}
	return out
}

// waitFor polls cond until it holds or d passes, and says how long it took.
func waitFor(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(500 * time.Microsecond)
	}
	return time.Since(start), true
}

// mustWait is waitFor that fails the test.
func mustWait(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := waitFor(d, cond)
	if !ok {
		t.Fatalf("%s: not true after %v", what, d)
	}
	return took
}

// waitApplied waits up to d for a to apply the event at seq, on the
// agent's own signal (agent.WaitApplied), and says how long it took and
// whether it happened.
func waitApplied(d time.Duration, a *agent.Agent, seq uint64) (time.Duration, bool) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := a.WaitApplied(ctx, seq)
	return time.Since(start), err == nil
}

// mustApply is waitApplied that fails the test.
func mustApply(t testing.TB, d time.Duration, what string, a *agent.Agent, seq uint64) time.Duration {
	t.Helper()
	took, ok := waitApplied(d, a, seq)
	if !ok {
		t.Fatalf("%s: sequence %d not applied after %v (applied %d)", what, seq, d, a.LastApplied())
	}
	return took
}

// ackLog collects the revocations the publisher got an ack for.
type ackLog struct {
	mu     sync.Mutex // guards the fields below
	revs   []acked
	maxSeq uint64
	dups   int
	failed []error
	hung   int // RevokeBatch calls that had to be cut off by batchTimeout
	// unacked counts revocations whose publish returned an error: the
	// server may or may not have stored them.
	unacked int
}

type acked struct {
	tok jwtrevoke.Token
	seq uint64
	at  time.Time
}

func (l *ackLog) add(tok jwtrevoke.Token, rc publisher.Receipt, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revs = append(l.revs, acked{tok, rc.Seq, at})
	l.maxSeq = max(l.maxSeq, rc.Seq)
	if rc.Duplicate {
		l.dups++
	}
}

func (l *ackLog) fail(err error) { l.failN(err, 1) }

// failN records one failed call that left n revocations unacknowledged.
func (l *ackLog) failN(err error, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, err)
	l.unacked += n
}

func (l *ackLog) snapshot() ([]acked, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.revs), l.maxSeq
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.revs)
}

// batchTimeout bounds one RevokeBatch call: a call still waiting for acks
// after it is counted as hung (the ackLog's hung) and its unacked entries
// as failed.
const batchTimeout = 30 * time.Second

// batch publishes rs with RevokeBatch in chunks and logs every ack. Entries
// that were not acknowledged (Seq 0) are logged as failures: not acked,
// so not counted.
func batch(ctx context.Context, pub *publisher.Publisher, rs []jwtrevoke.Revocation, chunk int, log *ackLog) {
	for start := 0; start < len(rs) && ctx.Err() == nil; start += chunk {
		part := rs[start:min(start+chunk, len(rs))]
		cctx, cancel := context.WithTimeout(ctx, batchTimeout)
		rcs, err := pub.RevokeBatch(cctx, part)
		hung := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		now := time.Now()
		if err != nil {
			zero := len(part) - len(rcs)
			for _, rc := range rcs {
				if rc.Seq == 0 {
					zero++
				}
			}
			log.failN(err, zero)
		}
		if hung {
			log.mu.Lock()
			log.hung++
			log.mu.Unlock()
		}
		for i, rc := range rcs {
			if rc.Seq != 0 {
				log.add(jtiToken(part[i].Key), rc, now)
			}
		}
	}
}

// maxAgents bounds the agents one tracker follows.
const maxAgents = 32

// tracker follows probes (single revocations whose ack time is known
// precisely) through every agent of a case, to measure exposure.
type tracker struct {
	mu     sync.Mutex // guards agents and outstanding
	agents []*node
	// outstanding are acked probes not yet seen revoked by every agent.
	outstanding []*probe
	probes      sync.Map // jti → *probe
	nextIdx     atomic.Int32
}

// probe is one revocation whose ack time is known.
type probe struct {
	key string
	tok jwtrevoke.Token
	ack atomic.Int64 // Unix ns the publisher's Revoke returned; 0 before
	at  [maxAgents]obs
}

// obs is what the poller saw of one probe at one agent.
type obs struct {
	applied     atomic.Int64 // OnApply time
	lastAllowed atomic.Int64 // last check after the ack that allowed the token
	// allowedFrom is when that check began: the agent allowed the token
	// at some instant after it, so it is a lower bound that does not
	// depend on how long the poller took (F03 compares it with the
	// agent's own stale onset).
	allowedFrom  atomic.Int64
	firstRefused atomic.Int64 // first refusal after lastAllowed
	done         atomic.Bool  // a Revoked verdict was seen: refused for good
}

// node is an agent under test.
type node struct {
	name    string
	idx     int
	a       *agent.Agent
	nc      *nats.Conn
	readyAt time.Time
	started time.Time
	gone    atomic.Bool
	applied atomic.Uint64 // OnApply calls
}

// start starts an agent on nc that reports applies to the tracker.
func (tr *tracker) start(t testing.TB, name string, nc *nats.Conn, wait bool, opts ...agent.Option) (*node, error) {
	t.Helper()
	n := &node{name: name, nc: nc, idx: int(tr.nextIdx.Add(1) - 1), started: time.Now()}
	if n.idx >= maxAgents {
		t.Fatalf("more than %d agents in one case", maxAgents)
	}
	onApply := func(r jwtrevoke.Revocation, _ uint64) {
		n.applied.Add(1)
		if v, ok := tr.probes.Load(r.Key); ok {
			o := &v.(*probe).at[n.idx]
			o.applied.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	base := []agent.Option{agent.WithMaxTokenLifetime(lifetime), agent.WithStaleness(staleness), agent.WithOnApply(onApply)}
	if debug {
		base = append(base, agent.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)).With("agent", name)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := agent.New(ctx, nc, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	n.a = a
	t.Cleanup(func() { n.close() })
	if wait {
		if err := a.WaitReady(ctx); err != nil {
			return n, err
		}
		n.readyAt = time.Now()
	}
	tr.mu.Lock()
	tr.agents = append(tr.agents, n)
	tr.mu.Unlock()
	return n, nil
}

func (tr *tracker) mustStart(t testing.TB, name string, nc *nats.Conn, opts ...agent.Option) *node {
	t.Helper()
	n, err := tr.start(t, name, nc, true, opts...)
	if err != nil {
		t.Fatalf("agent %s: %v", name, err)
	}
	return n
}

func (n *node) close() {
	if n.gone.CompareAndSwap(false, true) {
		n.a.Close()
	}
}

// drop stops following n (it was closed or restarted).
func (tr *tracker) drop(n *node) {
	n.close()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.agents = slices.DeleteFunc(tr.agents, func(m *node) bool { return m == n })
}

func (tr *tracker) live() []*node {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.agents)
}

// newProbe registers a probe before it is published, so that an apply
// that beats the ack is not missed.
func (tr *tracker) newProbe(key string) *probe { return tr.newProbeToken(jtiToken(key)) }

// newProbeToken is newProbe for a token of any kind; the probe is keyed by
// its jti, which OnApply reports only for token revocations.
func (tr *tracker) newProbeToken(tok jwtrevoke.Token) *probe {
	key := tok.JTI
	p := &probe{key: key, tok: tok}
	tr.probes.Store(key, p)
	return p
}

// acked records the probe's ack and starts polling it.
func (tr *tracker) acked(p *probe, at time.Time) {
	p.ack.Store(at.UnixNano())
	tr.mu.Lock()
	tr.outstanding = append(tr.outstanding, p)
	tr.mu.Unlock()
}

// poll checks every outstanding probe at every live agent until ctx ends,
// recording when each agent last allowed it and since when it refuses it.
func (tr *tracker) poll(ctx context.Context) {
	for ctx.Err() == nil {
		tr.mu.Lock()
		ps := slices.Clone(tr.outstanding)
		agents := slices.Clone(tr.agents)
		tr.mu.Unlock()
		var finished []*probe
		for _, p := range ps {
			all := true
			for _, n := range agents {
				o := &p.at[n.idx]
				if o.done.Load() || n.gone.Load() {
					continue
				}
				if n.readyAt.IsZero() || n.readyAt.UnixNano() > p.ack.Load() {
					// Started after the ack: catching up, not exposed.
					o.done.Store(true)
					continue
				}
				now := time.Now().UnixNano()
				if now > p.tok.ExpiresAt.Add(mwLeeway).UnixNano() {
					// Past exp + the verifier's leeway: the middleware
					// refuses the token whatever the agent says.
					o.done.Store(true)
					continue
				}
				before := time.Now().UnixNano()
				r := n.a.Check(&p.tok)
				now = time.Now().UnixNano()
				switch {
				case r.Allowed:
					o.lastAllowed.Store(now)
					o.allowedFrom.Store(before)
					o.firstRefused.Store(0)
					all = false
				case r.Verdict == filter.Revoked:
					o.firstRefused.CompareAndSwap(0, now)
					o.done.Store(true)
				default:
					o.firstRefused.CompareAndSwap(0, now)
					all = false
				}
			}
			if all {
				finished = append(finished, p)
			}
		}
		if len(finished) > 0 {
			tr.mu.Lock()
			tr.outstanding = slices.DeleteFunc(tr.outstanding, func(p *probe) bool { return slices.Contains(finished, p) })
			tr.mu.Unlock()
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// exposures returns, for every probe and every agent that was ready when
// the probe was acked, how long after the ack the agent kept allowing the
// token: zero if it never allowed it after the ack.
func (tr *tracker) exposures(agents []*node) []time.Duration {
	var out []time.Duration
	tr.probes.Range(func(_, v any) bool {
		p := v.(*probe)
		ack := p.ack.Load()
		if ack == 0 {
			return true
		}
		for _, n := range agents {
			if n.readyAt.IsZero() || n.readyAt.UnixNano() > ack {
				continue
			}
			o := &p.at[n.idx]
			last := o.lastAllowed.Load()
			if last == 0 {
				out = append(out, 0)
				continue
			}
			// Allowed until last; refused from the next check on, or from
			// the apply if that came between.
			end := o.firstRefused.Load()
			if ap := o.applied.Load(); ap > last && (end == 0 || ap < end) {
				end = ap
			}
			if end == 0 {
				end = time.Now().UnixNano()
			}
			out = append(out, time.Duration(end-ack))
		}
		return true
	})
	return out
}

// probeLoop publishes probes one at a time, every interval, recording
// each ack, until more(i) is false for the next index i or ctx ends.
func (tr *tracker) probeLoop(ctx context.Context, pub *publisher.Publisher, prefix string, interval time.Duration, log *ackLog, more func(i int) bool) int {
	i := 0
	for ; more(i) && ctx.Err() == nil; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		p := tr.newProbe(key)
		rc, err := pub.RevokeJTI(ctx, key, tokenExp)
		at := time.Now()
		if err != nil {
			log.fail(fmt.Errorf("probe %s: %w", key, err))
			continue
		}
		tr.acked(p, at)
		log.add(p.tok, rc, at)
		if interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}
	return i
}

// count returns a more func for probeLoop: n probes.
func count(n int) func(int) bool { return func(i int) bool { return i < n } }

// while returns a more func for probeLoop: at least n probes, and on while
// cond holds.
func while(n int, cond func() bool) func(int) bool {
	return func(i int) bool { return i < n || cond() }
}

// stallAfter is how long settle waits for an agent that is behind and
// makes no progress at all before it counts the rest as lost. An agent
// restarts a consumer that made no progress for one staleness bound (1 s),
// and a cluster election takes 5–9 s; 30 s is a large multiple of both, so
// a loaded machine that recovers slowly is not counted as losing events.
// It costs nothing when agents progress (settle returns as soon as they
// hold everything).
const stallAfter = 30 * time.Second

// settle waits until every agent refuses every acked token as revoked
// (each agent's LastApplied first reaches the highest acked sequence, so
// most checks pass at the first try), then returns how many acked tokens
// each agent still does not refuse as revoked when d has passed (or when
// it stalled: behind, and no event applied for stallAfter), and how long
// it took.
func settle(agents []*node, log *ackLog, d time.Duration) (lost []int, took time.Duration) {
	start := time.Now()
	deadline := start.Add(d)
	revs, maxSeq := log.snapshot()
	lost = make([]int, len(agents))
	last := make([]uint64, len(agents))
	progress := make([]time.Time, len(agents))
	stalled := make([]bool, len(agents))
	for i := range agents {
		progress[i] = start
	}
	for time.Now().Before(deadline) {
		behind := 0
		for i, n := range agents {
			cur := n.a.LastApplied()
			switch {
			case cur >= maxSeq || stalled[i]:
				continue
			case cur != last[i]:
				last[i], progress[i] = cur, time.Now()
			case time.Since(progress[i]) > stallAfter:
				stalled[i] = true
				continue
			}
			behind++
		}
		if behind == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i, n := range agents {
		for _, r := range revs {
			for {
				res := n.a.Check(&r.tok)
				if res.Verdict == filter.Revoked && !res.Allowed {
					break
				}
				if stalled[i] || time.Now().After(deadline) {
					lost[i]++
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	return lost, time.Since(start)
}

// sum adds up per-agent counts.
func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// statsLine summarises an agent's stats for the notes.
func statsLine(n *node) string {
	st := n.a.Stats()
	rej := uint64(0)
	for _, v := range st.EventsRejected {
		rej += v
	}
	return fmt.Sprintf("%s applied %d (last seq %d), rejected %d, consumer errors %d, probe errors %d, rewinds %d, settles %d",
		n.name, st.EventsApplied, st.LastApplied, rej, st.ConsumerErrors, st.ProbeErrors, st.Rewinds, st.Settles)
}

// streamMsgs reads the stream's state through nc.
func streamState(t testing.TB, nc *nats.Conn) jetstream.StreamState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := testkit.JetStream(t, nc).Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatalf("Stream(%s) error = %v", jwtrevoke.DefaultStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("Stream(%s).Info() error = %v", jwtrevoke.DefaultStream, err)
	}
	return info.State
}

// errsSummary lists up to three errors.
func errsSummary(errs []error) string {
	if len(errs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, e.g. %v", len(errs), errors.Join(errs[:min(3, len(errs))]...))
}

// lagQuantile reads the agents' own lag histograms (event issued → applied,
// every event) and returns the upper bound of the bucket holding the q
// quantile over all of them.
func lagQuantile(agents []*node, q float64) time.Duration {
	var counts []uint64
	for _, n := range agents {
		st := n.a.Stats()
		if counts == nil {
			counts = make([]uint64, len(st.LagCounts))
		}
		for i, c := range st.LagCounts {
			counts[i] += c
		}
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want {
			if i < len(agent.LagBuckets) {
				return agent.LagBuckets[i]
			}
			break
		}
	}
	return agent.LagBuckets[len(agent.LagBuckets)-1] + 1 // overflow bucket
}

// load keeps revocations flowing until the returned stop is called (stop
// waits for the publishers to return): batches of batchN every batchEvery,
// and g goroutines of single-revocation probes, each every probeEvery.
func (tr *tracker) load(ctx context.Context, pub *publisher.Publisher, prefix string, log *ackLog, batchN int, batchEvery time.Duration, g int, probeEvery time.Duration) (stop func()) {
	var halt atomic.Bool
	var wg sync.WaitGroup
	if batchN > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !halt.Load() && ctx.Err() == nil; i++ {
				batch(ctx, pub, revs(fmt.Sprintf("%s-b%d", prefix, i), batchN), batchN, log)
				time.Sleep(batchEvery)
			}
		}()
	}
	for j := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.probeLoop(ctx, pub, fmt.Sprintf("%s-p%d", prefix, j), probeEvery, log, func(int) bool { return !halt.Load() })
		}()
	}
	return func() {
		halt.Store(true)
		wg.Wait()
	}
}

// maxGap is the longest time between two consecutive acks in the log,
// and when it started.
func (l *ackLog) maxGap() (gap time.Duration, from time.Time) {
	revs, _ := l.snapshot()
	ts := make([]time.Time, len(revs))
	for i, r := range revs {
		ts[i] = r.at
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, from = d, ts[i-1]
		}
	}
	return gap, from
}

// firstAckAfter is the first ack at or after t.
func (l *ackLog) firstAckAfter(t time.Time) (time.Time, bool) {
	revs, _ := l.snapshot()
	var first time.Time
	for _, r := range revs {
		if !r.at.Before(t) && (first.IsZero() || r.at.Before(first)) {
			first = r.at
		}
	}
	return first, !first.IsZero()
}

// duplicates is how many stored messages the stream has dropped since
// its first: with one message per key and nothing expiring during a
// test, each is a second copy of a key that replaced the first.
func duplicates(st jetstream.StreamState) uint64 {
	if st.LastSeq == 0 {
		return 0
	}
	return st.LastSeq - st.FirstSeq + 1 - st.Msgs
}

// logRecorder is a slog.Handler that keeps the messages of warnings and
// errors, to see what an agent said about a fault.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: new(sync.Mutex), msgs: new([]string)} }

func (l logRecorder) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }

func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.mu.Lock()
	*l.msgs = append(*l.msgs, msg)
	l.mu.Unlock()
	return nil
}

func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecorder) WithGroup(string) slog.Handler      { return l }

func (l logRecorder) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(*l.msgs)
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// applyLags returns, for every probe acked while n was ready, how long
// after the ack n applied it (zero if before).
func (tr *tracker) applyLags(n *node) []time.Duration {
	var out []time.Duration
	tr.probes.Range(func(_, v any) bool {
		p := v.(*probe)
		ack, ap := p.ack.Load(), p.at[n.idx].applied.Load()
		if ack == 0 || ap == 0 || n.readyAt.IsZero() || n.readyAt.UnixNano() > ack {
			return true
		}
		out = append(out, time.Duration(max(ap-ack, 0)))
		return true
	})
	return out
}
