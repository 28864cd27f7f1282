// Package natsserver starts an embedded nats-server with JetStream, for the
// jwtrevoke command's development default (tests start theirs through
// internal/testkit). It links no test code into the binary. It is internal:
// users who embed NATS configure github.com/nats-io/nats-server/v2
// themselves.
package natsserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config says where the embedded server listens and stores.
type Config struct {
	// StoreDir is the JetStream store directory. Required.
	StoreDir string
	// Host and Port for NATS clients. Port -1 picks a free port; the
	// default host is 127.0.0.1.
	Host string
	Port int
	// Name is the server name; the default is "jwtrevoke-embedded".
	Name string
	// Log sends the server's log to stderr.
	Log bool
}

// Start starts a server and waits until it accepts connections.
func Start(c Config) (*server.Server, error) {
	if c.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Name == "" {
		c.Name = "jwtrevoke-embedded"
	}
	opts := &server.Options{
		ServerName: c.Name,
		Host:       c.Host,
		Port:       c.Port,
		JetStream:  true,
		StoreDir:   c.StoreDir,
		NoSigs:     true,
		NoLog:      !c.Log,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if c.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	// A hang guard, not a speed limit: startup takes milliseconds, and a
	// listen error ends the wait at once.
	if !s.ReadyForConnections(time.Minute) {
		s.Shutdown()
		return nil, fmt.Errorf("natsserver: not ready after 1m on %s:%d", c.Host, c.Port)
	}
	return s, nil
}

// Port returns the client port a started server listens on, or listened
// on if it has been shut down since.
func Port(s *server.Server) int {
	addr := ""
	if a := s.Addr(); a != nil {
		addr = a.String()
	} else if u, err := url.Parse(s.ClientURL()); err == nil {
		// Shut down: the listener is gone, but the options keep the port
		// it was given.
		addr = u.Host
	}
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
