package main

// The NATS topology of deploy/nats, booted from its files for scenarios
// 10 and 11 (internal/topology).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/internal/topology"
)

// deployNATS is deploy/nats, from the bench module's directory (where go
// run . and go test run).
const deployNATS = "../deploy/nats"

// bootDeploy boots the hub of deploy/nats and the regions asked for, with
// o's link and profiling, and stops them when the scenario ends.
func bootDeploy(ctx context.Context, s *scenarioRun, o topology.Options) (*topology.Topology, error) {
	if _, err := os.Stat(filepath.Join(deployNATS, "cluster.conf")); err != nil {
		return nil, fmt.Errorf("deploy/nats not found from the bench directory: %w (run the bench from bench/)", err)
	}
	dir, err := os.MkdirTemp("", "jwtrevoke-bench-deploy-")
	if err != nil {
		return nil, err
	}
	s.defer_(func() { os.RemoveAll(dir) })
	o.Dir, o.Work = deployNATS, dir
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	top, err := topology.Boot(bctx, o)
	if err != nil {
		return nil, err
	}
	s.defer_(top.Close)
	return top, nil
}

// dialUser connects to urls as user (the credentials are in the URLs).
func dialUser(s *scenarioRun, urls, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(urls, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.defer_(nc.Close)
	return nc, nil
}
