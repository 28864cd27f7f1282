// Package demo is `jwtrevoke demo`: the whole story in one process. It
// starts an embedded NATS server (or uses --server), a publisher, a small
// token issuer with a web page (web/, embedded in the binary) and N API
// replicas, each with its own agent, NATS connection and HTTP server, and
// shows a revoked token refused on every replica within milliseconds.
//
// It builds on internal/cli/clitool (global flags, the NATS connection and
// the embedded server, exit statuses); cmd/jwtrevoke adds its command to
// the root. The issuer, the replicas and their handlers are safe for use
// by multiple goroutines; a demo is started and closed by one.
package demo

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

const long = `Start the whole story in one process: an embedded NATS server with JetStream,
a publisher, a small token issuer with a web page, and N API replicas, each with
its own agent (its own NATS connection) and its own HTTP server.

  issuer + page   --listen            GET /  POST /login /refresh /logout /logout-all
                                      POST /revoke (RFC 7009)  POST /introspect (RFC 7662)
                                      GET /api/status
  replica i       port of --listen + i   GET /api/whoami  /livez  /readyz
  NATS            --nats-listen       for the nats CLI and agents in other processes

Demo users: alice/alice, bob/bob, carol/carol. Access tokens are HS256 (a random
secret per run), live 5 minutes and carry jti, sub, sid, kid, iat and exp; refresh
tokens are opaque and rotate on every use, and a reused one revokes its session.

Logging straight back in: iat is whole seconds, and a token is refused when
iat < cut-off with iat taken as the start of its second. Logout revokes the token
and its session, so a new login (a new session) works at once. After "log out
everywhere" (a subject cut-off T), the issuer waits out the rest of T's second
before it issues that user a token (at most one second, and only then), so the
new token's iat is not before T: it works on every replica while every earlier
token is refused.

The store is a fresh temporary directory removed at exit unless --data is given.
With --server the demo uses that NATS instead of an embedded one.

Exit status: 0 after Ctrl-C or SIGTERM, 1 failed (a busy port, a server that
stopped), 2 usage error (an unknown flag, a bad flag value).`

// config is what the demo verb's flags set.
type config struct {
	listen     string // issuer host:port; replica i listens on port+i
	replicas   int
	natsListen string
	data       string // JetStream store; a temporary directory when empty
}

// NewCommand returns `jwtrevoke demo`. It reads the global flags from g;
// the demo runs until the command's context ends (Ctrl-C, SIGTERM).
func NewCommand(g *clitool.Globals) *cobra.Command {
	cfg := config{}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run NATS, a token issuer with a web page and N API replicas in one process",
		Long:  long,
		Example: `  jwtrevoke demo
  jwtrevoke demo --listen 127.0.0.1:9000 --replicas 5
  jwtrevoke watch      # in another shell: the events as they are published`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), g, cfg, cmd.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "issuer and web page address; replica i listens on its port + i")
	f.IntVar(&cfg.replicas, "replicas", 3, "number of API replicas (1 to 32)")
	f.StringVar(&cfg.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server, for the nats CLI")
	f.StringVar(&cfg.data, "data", "", "JetStream store directory (default: a temporary directory removed at exit)")
	return c
}

// run starts the demo, prints its addresses to out, and runs until ctx
// ends (Ctrl-C, SIGTERM) or a server fails.
func run(ctx context.Context, g *clitool.Globals, cfg config, out io.Writer) error {
	d, err := start(ctx, g, cfg, g.Logger())
	if err != nil {
		return err
	}
	d.printBanner(out)
	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down")
	case runErr = <-d.errc:
	}
	if err := d.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// usage is a usage error (exit 2) of the demo's flags.
func usage(format string, args ...any) error {
	return clitool.Usage(fmt.Errorf(format, args...))
}
