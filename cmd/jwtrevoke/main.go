// Command jwtrevoke runs the revocation service, a one-command demo, and
// the tools to revoke, check and watch revocations from a shell.
//
//	jwtrevoke demo                     # everything in one process, embedded NATS
//	jwtrevoke serve                    # the revocation service (RFC 7009, RFC 7662, admin API)
//	jwtrevoke revoke subject alice     # revoke from a shell
//	jwtrevoke check <jwt>              # verdict from a local agent
//	jwtrevoke watch --json             # tail events as JSON lines
//	jwtrevoke status                   # the stream and its live entries
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "jwtrevoke:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "jwtrevoke",
		Short:         "Real logout for JWTs: revoke tokens and have every API replica refuse them within milliseconds",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	root.AddCommand(
		newServeCmd(g),
		newDemoCmd(g),
		newRevokeCmd(g),
		newCheckCmd(g),
		newWatchCmd(g),
		newStatusCmd(g),
	)
	return root
}
