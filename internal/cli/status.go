package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
)

type statusOptions struct {
	g          *clitool.Globals
	timeout    time.Duration
	agentsWait time.Duration
}

// NewStatusCommand returns `jwtrevoke status`. It reads the global flags
// from g.
func NewStatusCommand(g *clitool.Globals) *cobra.Command {
	o := &statusOptions{g: g}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the revocation stream: configuration, contract, state, live revocations per kind, safety",
		Long: `Status shows the revocation stream as the server reports it: subjects, storage,
replicas, max age, messages, bytes, first and last sequence, consumers and the
cluster leader; the number of keys revoked, by kind (the stream keeps every
event of a key until it expires, so this is the number of live revocations); the stream's contract (wire version, subject prefix, max token
lifetime, leeway), which the publisher that created it wrote into its metadata;
whether the configuration is safe for that contract (the publisher's check:
MaxAge, file storage, limits retention, no size limits that discard, deletes and
purges denied, direct get allowed, …), and the live agents (API replicas): the
sequence each has applied, its lag behind the stream and its freshness, from
the reports they publish every second. A stream without a contract is checked
for --max-lifetime.

Exit status: 0 shown (an unsafe stream too: see "Safe"), 1 failed (no server,
no stream), 2 usage error (an unknown flag, a bad flag value).`,
		Example: `  jwtrevoke status
  jwtrevoke status --json | jq .kinds
  jwtrevoke status --stream JWTREVOKE --max-lifetime 1h`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := o.run(cmd.Context())
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), rep)
		},
	}
	c.Flags().DurationVar(&o.timeout, "timeout", 15*time.Second, "give up when the server has not answered within this time")
	c.Flags().DurationVar(&o.agentsWait, "agents-wait", 1500*time.Millisecond, "listen this long for the agents' status reports (they report every second); 0 lists none")
	return c
}

// statusReport is what status prints.
type statusReport struct {
	Stream            string            `json:"stream"`
	Description       string            `json:"description,omitempty"`
	Created           time.Time         `json:"created"`
	Subjects          []string          `json:"subjects"`
	Storage           string            `json:"storage"`
	Replicas          int               `json:"replicas"`
	MaxAgeSeconds     float64           `json:"max_age_seconds"`
	MaxMsgsPerSubject int64             `json:"max_msgs_per_subject"`
	Messages          uint64            `json:"messages"`
	Bytes             uint64            `json:"bytes"`
	FirstSeq          uint64            `json:"first_seq"`
	FirstTime         time.Time         `json:"first_time"`
	LastSeq           uint64            `json:"last_seq"`
	LastTime          time.Time         `json:"last_time"`
	Consumers         int               `json:"consumers"`
	Cluster           *statusCluster    `json:"cluster,omitempty"`
	Mirror            *statusMirror     `json:"mirror,omitempty"`
	Kinds             map[string]uint64 `json:"kinds"`
	// Other counts messages on subjects that are not revocation subjects
	// under the prefix (should be zero).
	Other uint64 `json:"other"`
	// Contract is the stream's contract, from its metadata; nil for a
	// stream that carries none (then checked against --max-lifetime).
	Contract *statusContract `json:"contract,omitempty"`
	Safe     bool            `json:"safe"`
	Problem  string          `json:"problem,omitempty"`

	// Agents are the live agents heard within --agents-wait; AgentsNote
	// says why none could be heard, if so.
	Agents     []publisher.AgentReport `json:"agents"`
	AgentsNote string                  `json:"agents_note,omitempty"`

	lifetime time.Duration // what the stream was checked for
}

// statusContract is the stream's contract (jwtrevoke.Contract).
type statusContract struct {
	WireVersion             int     `json:"wire_version"`
	SubjectPrefix           string  `json:"subject_prefix"`
	MaxTokenLifetimeSeconds float64 `json:"max_token_lifetime_seconds"`
	LeewaySeconds           float64 `json:"leeway_seconds"`
}

type statusCluster struct {
	Name     string          `json:"name,omitempty"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []statusReplica `json:"replicas,omitempty"`
}

// statusMirror is a region's mirror of the hub's stream (docs/regions.md).
type statusMirror struct {
	Origin string `json:"origin"`
	API    string `json:"api"`
	Lag    uint64 `json:"lag"`
	// ActiveSeconds is how long ago the mirror last heard its origin; -1
	// never.
	ActiveSeconds float64 `json:"active_seconds"`
	Error         string  `json:"error,omitempty"`
}

type statusReplica struct {
	Name    string  `json:"name"`
	Current bool    `json:"current"`
	Offline bool    `json:"offline,omitempty"`
	Lag     uint64  `json:"lag"`
	Active  float64 `json:"active_seconds"`
}

func (o *statusOptions) run(ctx context.Context) (statusReport, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, err := o.g.Connect(ctx, "jwtrevoke status")
	if err != nil {
		return statusReport{}, err
	}
	defer nc.Close()
	listenUntil := time.Now().Add(o.agentsWait)
	var watch *publisher.AgentWatch
	var watchErr error
	if o.agentsWait > 0 {
		watch, watchErr = publisher.WatchAgents(nc, o.g.Stream)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return statusReport{}, err
	}
	st, err := js.Stream(ctx, o.g.Stream)
	if err != nil {
		return statusReport{}, fmt.Errorf("stream %q on %s: %w", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return statusReport{}, fmt.Errorf("stream %q: %w", o.g.Stream, err)
	}
	rep := newStatusReport(info)
	contract := o.checkContract(ctx, nc, &rep, info)
	if err := countKinds(ctx, st, contract.SubjectPrefix, &rep); err != nil {
		return statusReport{}, err
	}
	rep.Agents = []publisher.AgentReport{}
	switch {
	case o.agentsWait <= 0:
		rep.AgentsNote = "not listened for (--agents-wait 0)"
	case watchErr != nil:
		rep.AgentsNote = watchErr.Error()
	default:
		select {
		case <-time.After(time.Until(listenUntil)):
		case <-ctx.Done():
			return statusReport{}, ctx.Err()
		}
		for _, a := range watch.Agents() {
			rep.Agents = append(rep.Agents, a.Report(rep.LastSeq))
		}
		watch.Close()
	}
	return rep, nil
}

// newStatusReport is the stream's configuration and state, as the server
// reports them.
func newStatusReport(info *jetstream.StreamInfo) statusReport {
	cfg, state := info.Config, info.State
	rep := statusReport{
		Stream:            cfg.Name,
		Description:       cfg.Description,
		Created:           info.Created.UTC(),
		Subjects:          cfg.Subjects,
		Storage:           cfg.Storage.String(),
		Replicas:          cfg.Replicas,
		MaxAgeSeconds:     cfg.MaxAge.Seconds(),
		MaxMsgsPerSubject: cfg.MaxMsgsPerSubject,
		Messages:          state.Msgs,
		Bytes:             state.Bytes,
		FirstSeq:          state.FirstSeq,
		FirstTime:         state.FirstTime.UTC(),
		LastSeq:           state.LastSeq,
		LastTime:          state.LastTime.UTC(),
		Consumers:         state.Consumers,
		Kinds:             map[string]uint64{},
		Safe:              true,
	}
	if c := info.Cluster; c != nil {
		sc := &statusCluster{Name: c.Name, Leader: c.Leader}
		for _, p := range c.Replicas {
			sc.Replicas = append(sc.Replicas, statusReplica{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active.Seconds()})
		}
		rep.Cluster = sc
	}
	return rep
}

// checkMirror checks a region's mirror against the hub's stream, read
// through the mirror's own API prefix, as jwtrevoke mirror does.
func (o *statusOptions) checkMirror(ctx context.Context, nc *nats.Conn, rep *statusReport, info *jetstream.StreamInfo) {
	m := info.Config.Mirror
	rep.Mirror = &statusMirror{Origin: m.Name, ActiveSeconds: -1}
	if info.Mirror != nil {
		rep.Mirror.Lag = info.Mirror.Lag
		if info.Mirror.Active >= 0 {
			rep.Mirror.ActiveSeconds = info.Mirror.Active.Seconds()
		}
		if info.Mirror.Error != nil {
			rep.Mirror.Error = info.Mirror.Error.Error()
		}
	}
	if m.External == nil {
		rep.Safe, rep.Problem = false, "a mirror of a stream in this JetStream domain, not a region's mirror of the hub's (jwtrevoke mirror)"
		return
	}
	rep.Mirror.API = m.External.APIPrefix
	domain := strings.TrimSuffix(strings.TrimPrefix(m.External.APIPrefix, "$JS."), ".API")
	hub, err := jetstream.NewWithAPIPrefix(nc, m.External.APIPrefix)
	var origin jetstream.Stream
	if err == nil {
		origin, err = hub.Stream(ctx, m.Name)
	}
	if err != nil {
		if rep.Mirror.Error == "" {
			rep.Mirror.Error = fmt.Sprintf("the hub's stream could not be read to check the mirror against: %v", err)
		}
		return
	}
	if err := region.CheckMirror(info.Config, origin.CachedInfo().Config, domain); err != nil {
		rep.Safe, rep.Problem = false, err.Error()
	}
}

// checkContract checks the stream configured as cfg against its own
// contract, or a stream without one against --max-lifetime and the
// defaults, and returns the contract it checked against.
func (o *statusOptions) checkContract(ctx context.Context, nc *nats.Conn, rep *statusReport, info *jetstream.StreamInfo) jwtrevoke.Contract {
	cfg := info.Config
	contract, fromStream, err := o.g.StreamContract(cfg)
	switch {
	case err != nil:
		rep.Safe, rep.Problem = false, err.Error()
	case cfg.Mirror != nil:
		o.checkMirror(ctx, nc, rep, info)
	default:
		if err := publisher.CheckStream(cfg, contract.SubjectPrefix, contract.MaxTokenLifetime, contract.Leeway); err != nil {
			rep.Safe, rep.Problem = false, err.Error()
		}
	}
	if fromStream {
		rep.Contract = &statusContract{WireVersion: contract.WireVersion, SubjectPrefix: contract.SubjectPrefix,
			MaxTokenLifetimeSeconds: contract.MaxTokenLifetime.Seconds(), LeewaySeconds: contract.Leeway.Seconds()}
	}
	rep.lifetime = contract.MaxTokenLifetime
	return contract
}

// countKinds counts the keys revoked, per kind: the subjects under each
// kind's prefix (one subject per key; the stream keeps every live event of
// a key on it), and the messages on other subjects.
func countKinds(ctx context.Context, st jetstream.Stream, prefix string, rep *statusReport) error {
	var sum uint64
	for _, k := range jwtrevoke.Kinds {
		filter := prefix + "." + k.String() + ".>"
		ki, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return fmt.Errorf("counting %s events: %w", k, err)
		}
		for _, c := range ki.State.Subjects {
			sum += c
		}
		rep.Kinds[k.String()] = uint64(len(ki.State.Subjects))
	}
	if rep.Messages > sum {
		rep.Other = rep.Messages - sum
	}
	return nil
}

func (o *statusOptions) print(w io.Writer, rep statusReport) error {
	if o.g.JSON {
		return printJSON(w, rep)
	}
	fmt.Fprintf(w, "Stream %s", rep.Stream)
	if rep.Description != "" {
		fmt.Fprintf(w, " (%s)", rep.Description)
	}
	fmt.Fprintf(w, ", created %s\n\n", stampMilli(rep.Created))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, section := range []func(io.Writer, statusReport){printStatusConfig, printStatusState, printStatusKinds} {
		section(tw, rep)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	printStatusAgents(tw, rep)
	if err := tw.Flush(); err != nil {
		return err
	}
	if !rep.Safe {
		fmt.Fprintf(w, "\nUnsafe configuration:\n  %s\n", strings.ReplaceAll(rep.Problem, "; ", "\n  "))
	}
	return nil
}

// printStatusAgents prints the live agents.
func printStatusAgents(tw io.Writer, rep statusReport) {
	fmt.Fprintf(tw, "\nAgents: %d live\n", len(rep.Agents))
	if rep.AgentsNote != "" {
		fmt.Fprintf(tw, "  (%s)\n", rep.AgentsNote)
		return
	}
	if len(rep.Agents) == 0 {
		return
	}
	fmt.Fprintln(tw, "  NAME\tID\tAPPLIED\tLAG\tFRESH")
	for _, a := range rep.Agents {
		fresh := fmt.Sprintf("yes (%d ms)", a.StalenessMS)
		switch {
		case !a.Ready:
			fresh = "replaying"
		case a.Stale:
			fresh = fmt.Sprintf("STALE (%d ms)", a.StalenessMS)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", a.Name, a.ID, a.Applied, a.Lag, fresh)
	}
}

// printStatusConfig prints the stream's configuration and contract, and
// whether it is safe.
func printStatusConfig(tw io.Writer, rep statusReport) {
	fmt.Fprintln(tw, "Configuration:")
	if m := rep.Mirror; m != nil {
		heard := "never heard the hub"
		if m.ActiveSeconds >= 0 {
			heard = fmt.Sprintf("heard the hub %v ago", round(time.Duration(m.ActiveSeconds*float64(time.Second))))
		}
		fmt.Fprintf(tw, "  Mirror of:\t%s through %s: lag %d, %s\n", m.Origin, m.API, m.Lag, heard)
		if m.Error != "" {
			fmt.Fprintf(tw, "  Mirror error:\t%s\n", m.Error)
		}
	} else {
		fmt.Fprintf(tw, "  Subjects:\t%s\n", strings.Join(rep.Subjects, ", "))
	}
	fmt.Fprintf(tw, "  Storage:\t%s\n", rep.Storage)
	fmt.Fprintf(tw, "  Replicas:\t%d\n", rep.Replicas)
	fmt.Fprintf(tw, "  Max age:\t%s\n", time.Duration(rep.MaxAgeSeconds*float64(time.Second)))
	fmt.Fprintf(tw, "  Max per subject:\t%d\n", rep.MaxMsgsPerSubject)
	if c := rep.Contract; c != nil {
		fmt.Fprintf(tw, "  Contract:\twire v%d, prefix %s, tokens living up to %v, leeway %v\n", c.WireVersion, c.SubjectPrefix,
			time.Duration(c.MaxTokenLifetimeSeconds*float64(time.Second)), time.Duration(c.LeewaySeconds*float64(time.Second)))
	} else {
		fmt.Fprintf(tw, "  Contract:\tnone in the stream's metadata: every publisher and agent must be given the same max token lifetime (checked for %v, --max-lifetime)\n", rep.lifetime)
	}
	if rep.Safe {
		fmt.Fprintf(tw, "  Safe:\tyes, for tokens living up to %v\n", rep.lifetime)
	} else {
		fmt.Fprintf(tw, "  Safe:\tNO (see below)\n")
	}
}

// printStatusState prints the stream's messages, sequences, consumers and
// cluster.
func printStatusState(tw io.Writer, rep statusReport) {
	now := time.Now()
	fmt.Fprintln(tw, "\nState:")
	fmt.Fprintf(tw, "  Messages:\t%d\n", rep.Messages)
	fmt.Fprintf(tw, "  Bytes:\t%s\n", byteSize(rep.Bytes))
	if rep.Messages > 0 {
		fmt.Fprintf(tw, "  First sequence:\t%d @ %s (%s)\n", rep.FirstSeq, stampMilli(rep.FirstTime), ago(rep.FirstTime, now))
		fmt.Fprintf(tw, "  Last sequence:\t%d @ %s (%s)\n", rep.LastSeq, stampMilli(rep.LastTime), ago(rep.LastTime, now))
	} else {
		fmt.Fprintf(tw, "  Last sequence:\t%d\n", rep.LastSeq)
	}
	fmt.Fprintf(tw, "  Consumers:\t%d\n", rep.Consumers)
	switch c := rep.Cluster; {
	case c != nil && c.Name != "":
		fmt.Fprintf(tw, "  Cluster:\t%s, leader %s\n", c.Name, c.Leader)
		for _, p := range c.Replicas {
			state := "current"
			switch {
			case p.Offline:
				state = "OFFLINE"
			case !p.Current:
				state = fmt.Sprintf("behind by %d", p.Lag)
			}
			fmt.Fprintf(tw, "  Replica %s:\t%s\n", p.Name, state)
		}
	case c != nil && c.Leader != "":
		fmt.Fprintf(tw, "  Cluster:\tnone, single server %s\n", c.Leader)
	default:
		fmt.Fprintf(tw, "  Cluster:\tnone\n")
	}
}

// printStatusKinds prints the live revocations by kind.
func printStatusKinds(tw io.Writer, rep statusReport) {
	fmt.Fprintln(tw, "\nLive revocations by kind:")
	for _, k := range jwtrevoke.Kinds {
		name := kindName(k) + " (" + k.String() + ")"
		if k == jwtrevoke.KindAll {
			name = "all"
		}
		fmt.Fprintf(tw, "  %s:\t%d\n", name, rep.Kinds[k.String()])
	}
	if rep.Other > 0 {
		fmt.Fprintf(tw, "  other subjects:\t%d\n", rep.Other)
	}
}
