package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/region"
)

type mirrorOptions struct {
	g        *clitool.Globals
	replicas int
	timeout  time.Duration
}

// NewMirrorCommand returns `jwtrevoke mirror`. It reads the global flags
// from g.
func NewMirrorCommand(g *clitool.Globals) *cobra.Command {
	o := &mirrorOptions{g: g}
	c := &cobra.Command{
		Use:   "mirror",
		Short: "Make (or check) a region's mirror of the hub's revocation stream",
		Long: `Mirror connects to a region's NATS leaf node and makes sure its JetStream
domain holds a mirror of the hub's revocation stream, read through the hub's
domain (--hub-domain, default ` + region.DefaultHubDomain + `): the same name, the hub
stream's contract, retention and size limit, every event, append-only, following
a durable consumer of its own at the hub (<stream>_MIRROR_<region's domain>),
which nats-server recovers within seconds once a cut link is back. The
region's agents then replay and tail their own copy, and keep answering from it
when the link to the hub is cut (going stale within their bound). It refuses a
stream of that name that cannot serve as the mirror, a hub stream without a
contract or that is itself a mirror, and a connection to the hub itself.
Started with the leaf node, it waits for the leaf node's link to the hub
(up to --timeout). Running it again checks the mirror and changes nothing (docs/regions.md).

Exit status: 0 the mirror is there (made now or found good), 1 failed (the hub
unreachable, a stream that cannot serve), 2 usage error.`,
		Example: `  jwtrevoke mirror --server nats://admin:…@region-a:4222
  jwtrevoke mirror --hub-domain hub --replicas 3 --json`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := c.Flags()
	f.IntVar(&o.replicas, "replicas", 1, "replicas of the mirror when it is made: 1 on one leaf node, 3 on a leaf cluster of three")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long (this includes waiting for the leaf node's link to the hub)")
	return c
}

// mirrorReport is what mirror prints.
type mirrorReport struct {
	Stream           string  `json:"stream"`
	HubDomain        string  `json:"hub_domain"`
	Region           string  `json:"region"`
	Consumer         string  `json:"consumer"`
	Created          bool    `json:"created"`
	Replicas         int     `json:"replicas"`
	MaxTokenLifetime string  `json:"max_token_lifetime"`
	Leeway           string  `json:"leeway"`
	SubjectPrefix    string  `json:"subject_prefix"`
	HubLastSeq       uint64  `json:"hub_last_seq"`
	MirrorLastSeq    uint64  `json:"mirror_last_seq"`
	Lag              uint64  `json:"lag"`
	ActiveSeconds    float64 `json:"active_seconds"`
}

func (o *mirrorOptions) run(ctx context.Context, out io.Writer) error {
	if o.replicas < 1 || o.replicas > 5 || o.timeout <= 0 {
		return clitool.Usage(fmt.Errorf("--replicas %d, --timeout %v: want replicas 1..5, timeout > 0", o.replicas, o.timeout))
	}
	domain := o.g.HubDomain
	if domain == "" {
		domain = region.DefaultHubDomain
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, err := o.g.Connect(ctx, "jwtrevoke mirror")
	if err != nil {
		return err
	}
	defer nc.Close()
	res, err := region.Ensure(ctx, nc, region.Config{Stream: o.g.Stream, HubDomain: domain, Replicas: o.replicas})
	if err != nil {
		return err
	}
	rep := mirrorReport{
		Stream: o.g.Stream, HubDomain: domain, Region: res.Region, Consumer: res.Consumer, Created: res.Created, Replicas: res.Mirror.Config.Replicas,
		MaxTokenLifetime: res.Contract.MaxTokenLifetime.String(), Leeway: res.Contract.Leeway.String(), SubjectPrefix: res.Contract.SubjectPrefix,
		HubLastSeq: res.Origin.State.LastSeq, MirrorLastSeq: res.Mirror.State.LastSeq,
	}
	if m := res.Mirror.Mirror; m != nil {
		rep.Lag, rep.ActiveSeconds = m.Lag, m.Active.Seconds()
	}
	if o.g.JSON {
		return printJSON(out, rep)
	}
	verb := "Found"
	if rep.Created {
		verb = "Made"
	}
	follows := "the hub's durable consumer " + rep.Consumer
	if rep.Consumer == "" {
		follows = "an ephemeral consumer (made by hand: it recovers from a cut link in tens of seconds where a durable one takes seconds; docs/regions.md)"
	}
	_, err = fmt.Fprintf(out, "%s the mirror %s of the hub's %s (domain %s) in region %s, %d replica(s), following %s: contract max token lifetime %s, leeway %s, prefix %s; hub at sequence %d, mirror at %d\n",
		verb, rep.Stream, rep.Stream, rep.HubDomain, rep.Region, rep.Replicas, follows, rep.MaxTokenLifetime, rep.Leeway, rep.SubjectPrefix, rep.HubLastSeq, rep.MirrorLastSeq)
	return err
}
