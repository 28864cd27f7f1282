package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// link is an in-process toxiproxy between one client and a server: the
// client dials link.url, and the test degrades or cuts the link.
type link struct {
	proxy  *toxiproxy.Proxy
	url    string
	mu     sync.Mutex // guards toxics
	toxics []string
}

var toxi struct {
	once sync.Once
	srv  *toxiproxy.ApiServer
}

// newLink starts a proxy to upstream (host:port). It skips the test if
// toxiproxy cannot run here.
func newLink(t *testing.T, name, upstream string) *link {
	t.Helper()
	toxi.once.Do(func() {
		toxi.srv = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	})
	p := toxiproxy.NewProxy(toxi.srv, name+"-"+t.Name(), "127.0.0.1:0", strings.TrimPrefix(upstream, "nats://"))
	if err := p.Start(); err != nil {
		t.Skipf("toxiproxy cannot run here (%v): link faults need it", err)
	}
	t.Cleanup(p.Stop)
	return &link{proxy: p, url: "nats://" + p.Listen}
}

// add adds a toxic in the given direction ("upstream" is client → server).
func (l *link) add(name, typ, stream string, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		return fmt.Errorf("toxic %s: %w", name, err)
	}
	l.mu.Lock()
	l.toxics = append(l.toxics, name)
	l.mu.Unlock()
	return nil
}

// cut blackholes the link both ways: connections stay open, nothing
// crosses, new connections are accepted and hear nothing — a partition,
// not a refusal.
func (l *link) cut(t testing.TB) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if err := l.add("cut-"+dir, "timeout", dir, `{"timeout":0}`); err != nil {
			t.Fatal(err)
		}
	}
}

// slow adds latency (ms, both ways) and a bandwidth limit (KB/s, server →
// client).
func (l *link) slow(t testing.TB, latencyMS, kbps int) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if err := l.add("latency-"+dir, "latency", dir, fmt.Sprintf(`{"latency":%d,"jitter":%d}`, latencyMS, latencyMS/5)); err != nil {
			t.Fatal(err)
		}
	}
	if kbps > 0 {
		if err := l.add("bandwidth", "bandwidth", "downstream", fmt.Sprintf(`{"rate":%d}`, kbps)); err != nil {
			t.Fatal(err)
		}
	}
}

// heal removes every toxic.
func (l *link) heal(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	names := l.toxics
	l.toxics = nil
	l.mu.Unlock()
	for _, n := range names {
		if err := l.proxy.Toxics.RemoveToxic(context.Background(), n); err != nil {
			t.Errorf("remove toxic %s: %v", n, err)
		}
	}
}
