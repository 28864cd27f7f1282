package natsproc

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The generated config is what the nats-server binary reads: parse it with
// the server's own config parser, without building or starting anything.
func TestConfigParses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"single", Options{Name: "n1", Port: 4222, HTTPPort: 8222, StoreDir: dir}, []string{`server_name: "n1"`, "listen: \"127.0.0.1:4222\"", "store_dir:"}},
		{"cluster member", Options{Name: "c-2", Port: 4223, HTTPPort: 8223, StoreDir: dir, Cluster: "c", ClusterPort: 6223, Routes: []int{6222, 6223, 6224}, SyncAlways: true},
			[]string{"sync_interval: always", `"nats-route://127.0.0.1:6222", "nats-route://127.0.0.1:6224"`}},
		{"accounts", Options{Name: "a", Port: 4224, HTTPPort: 8224, StoreDir: dir, Accounts: `accounts { A { jetstream: enabled, users: [{user: u, password: p}] } }`}, []string{"accounts {"}},
	}
	for _, tt := range tests {
		cfg := configText(tt.o)
		for _, w := range tt.want {
			if !strings.Contains(cfg, w) {
				t.Errorf("%s: config lacks %q:\n%s", tt.name, w, cfg)
			}
		}
		if strings.Contains(cfg, "nats-route://127.0.0.1:6223") {
			t.Errorf("%s: a member routes to itself:\n%s", tt.name, cfg)
		}
		opts := &server.Options{}
		if err := opts.ProcessConfigString(cfg); err != nil {
			t.Errorf("%s: nats-server cannot parse the config: %v\n%s", tt.name, err, cfg)
			continue
		}
		if opts.ServerName != tt.o.Name || opts.Port != tt.o.Port || !opts.JetStream || opts.StoreDir != dir {
			t.Errorf("%s: parsed name %q port %d jetstream %v store %q, want %q %d true %q", tt.name, opts.ServerName, opts.Port, opts.JetStream, opts.StoreDir, tt.o.Name, tt.o.Port, dir)
		}
	}
}
