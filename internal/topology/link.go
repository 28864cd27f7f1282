package topology

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Link is a region's link to the hub through in-process toxiproxy
// proxies, one per hub node, so that it can be cut: give its Via to Boot.
// It is safe for use by multiple goroutines.
type Link struct {
	region string
	srv    *toxiproxy.ApiServer

	mu      sync.Mutex // guards proxies, cut
	proxies []*toxiproxy.Proxy
	cut     bool
}

// NewLink returns the link of region, with no proxy yet.
func NewLink(region string) *Link {
	return &Link{region: region, srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())}
}

// Via is Options.Via: it proxies region's connections to a hub node and
// leaves other regions' direct.
func (l *Link) Via(region string, node int, addr string) (string, error) {
	if region != l.region {
		return addr, nil
	}
	p := toxiproxy.NewProxy(l.srv, fmt.Sprintf("%s-%d", region, node), "127.0.0.1:0", addr)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("topology: toxiproxy for %s: %w", region, err)
	}
	l.mu.Lock()
	l.proxies = append(l.proxies, p)
	l.mu.Unlock()
	return p.Listen, nil
}

// Cut blackholes the link both ways: connections stay open and nothing
// crosses, new connections are taken and hear nothing, as in a network
// partition (not a refusal, which a server would notice at once).
func (l *Link) Cut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil
	}
	for _, p := range l.proxies {
		for _, dir := range []string{"upstream", "downstream"} {
			js := fmt.Sprintf(`{"name":"cut-%s","type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, dir, dir)
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
				return fmt.Errorf("topology: cut %s: %w", l.region, err)
			}
		}
	}
	l.cut = true
	return nil
}

// Heal removes the cut.
func (l *Link) Heal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		return nil
	}
	var errs []error
	for _, p := range l.proxies {
		for _, dir := range []string{"upstream", "downstream"} {
			errs = append(errs, p.Toxics.RemoveToxic(context.Background(), "cut-"+dir))
		}
	}
	l.cut = false
	return errors.Join(errs...)
}

// Close stops the proxies.
func (l *Link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.proxies {
		p.Stop()
	}
	l.proxies = nil
}
