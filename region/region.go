// Package region keeps a region's copy of the revocation stream.
//
// One JetStream cluster, the hub, holds the revocation stream and takes
// every publisher's writes. Each region runs a NATS leaf node (or a leaf
// cluster) with JetStream in a domain of its own, connected to the hub, and
// holds a mirror of the hub's stream: the hub pushes every event over the
// region's link once, and the region's agents replay and tail the mirror
// from their own leaf node, so a region keeps answering from its own copy
// when the link is slow or cut, and a new agent there replays without
// crossing it.
//
// Ensure creates the mirror, or checks the one that is there. The mirror
// follows a durable consumer of its own at the hub (DurableName), which
// nats-server recovers after a cut link with a reset that waits 5 s, where
// an ephemeral mirror consumer is made again with a request that waits 30 s
// and then backs off: after a 30 s cut, a region caught up about a second
// after the link came back instead of 20-30 s. The mirror keeps the
// origin's sequence numbers and carries the origin's contract
// (jwtrevoke.Contract) in its metadata, so a sequence from the hub
// (jwtrevoke.SeqHeader, publisher.Receipt.Seq) means the same event at
// every region and the region's agents follow the same limits as the
// hub's. An agent reading a mirror is fresh only as far as the mirror last
// heard its origin (see agent.WithStaleness): a cut link makes the
// region's agents stale within their bound, whatever their leaf node
// says.
//
// Publishers write to the hub: in a region, with
// publisher.WithDomain(hubDomain) on a connection to the leaf node, or
// connected to the hub itself. docs/regions.md says how it grows to N
// regions and what it costs.
package region

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/jsretry"
)

// DefaultHubDomain is the JetStream domain of the hub in deploy/nats.
const DefaultHubDomain = "hub"

// ErrMirror is returned when a region's stream cannot serve as the mirror
// of the hub's, or the hub's stream cannot be mirrored.
var ErrMirror = errors.New("jwtrevoke/region: mirror")

// Config says which stream to mirror from where.
type Config struct {
	// Stream names the revocation stream, at the hub and in the region;
	// empty is jwtrevoke.DefaultStream.
	Stream string
	// HubDomain is the JetStream domain of the hub; empty is
	// DefaultHubDomain.
	HubDomain string
	// Replicas of the mirror in the region: 1 on a single leaf node, 3
	// on a leaf cluster of three. 0 is 1.
	Replicas int
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = jwtrevoke.DefaultStream
	}
	if c.HubDomain == "" {
		c.HubDomain = DefaultHubDomain
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// APIPrefix is the JetStream API prefix of a domain, as a region's mirror
// reaches its origin through it.
func APIPrefix(domain string) string { return "$JS." + domain + ".API" }

// MirrorConfig returns the configuration of a region's mirror of origin,
// the hub's revocation stream, reached through hubDomain: the same name,
// contract, retention and size limit, file storage, append-only, every
// event (no filter, no transform).
func MirrorConfig(origin jetstream.StreamConfig, hubDomain string, replicas int) jetstream.StreamConfig {
	if replicas == 0 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        origin.Name,
		Description: "jwtrevoke revocation log, mirror of the hub's (domain " + hubDomain + ")",
		Metadata:    maps.Clone(origin.Metadata),
		Mirror: &jetstream.StreamSource{
			Name:     origin.Name,
			External: &jetstream.ExternalStream{APIPrefix: APIPrefix(hubDomain)},
		},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            origin.MaxAge,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		MaxMsgSize:        origin.MaxMsgSize,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
		AllowMsgTTL:       origin.AllowMsgTTL,
	}
}

// CheckMirror says what, if anything, keeps cfg, a region's stream, from
// serving as the mirror of origin through hubDomain: it returns nil, or an
// error wrapping ErrMirror listing every problem.
func CheckMirror(cfg, origin jetstream.StreamConfig, hubDomain string) error {
	m := cfg.Mirror
	if m == nil {
		return fmt.Errorf("%w: stream %q here is not a mirror (subjects %v): agents here would read it instead of the hub's revocations; connect to the region's leaf node, whose JetStream domain is not %q, and remove a stream made by hand",
			ErrMirror, cfg.Name, cfg.Subjects, hubDomain)
	}
	var bad []string
	if m.Name != origin.Name {
		bad = append(bad, fmt.Sprintf("mirrors stream %q, not %q", m.Name, origin.Name))
	}
	prefix := ""
	if m.External != nil {
		prefix = m.External.APIPrefix
	}
	if prefix != APIPrefix(hubDomain) {
		bad = append(bad, fmt.Sprintf("mirrors through API prefix %q, not the hub's %q", prefix, APIPrefix(hubDomain)))
	}
	if m.FilterSubject != "" || len(m.SubjectTransforms) > 0 {
		bad = append(bad, "mirrors a filtered or transformed part of the stream: every event must reach the region")
	}
	if m.OptStartSeq > 1 || m.OptStartTime != nil {
		bad = append(bad, "mirrors from a start sequence or time: live revocations before it are missing")
	}
	if !maps.Equal(cfg.Metadata, origin.Metadata) {
		bad = append(bad, fmt.Sprintf("metadata %v differs from the hub stream's %v: the region's agents would follow another contract", cfg.Metadata, origin.Metadata))
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < origin.MaxAge {
		bad = append(bad, fmt.Sprintf("MaxAge %v is shorter than the hub stream's %v: live revocations would leave the region first", cfg.MaxAge, origin.MaxAge))
	}
	if cfg.MaxMsgs > 0 || cfg.MaxBytes > 0 || cfg.MaxMsgsPerSubject > 0 {
		bad = append(bad, fmt.Sprintf("MaxMsgs %d / MaxBytes %d / MaxMsgsPerSubject %d: a full mirror drops revocations", cfg.MaxMsgs, cfg.MaxBytes, cfg.MaxMsgsPerSubject))
	}
	if origin.MaxMsgSize > 0 && cfg.MaxMsgSize > 0 && cfg.MaxMsgSize < origin.MaxMsgSize {
		bad = append(bad, fmt.Sprintf("MaxMsgSize %d is below the hub stream's %d: a larger event would stop the mirror", cfg.MaxMsgSize, origin.MaxMsgSize))
	}
	if !cfg.AllowDirect {
		bad = append(bad, "direct get is off: agents settle a key's events with it")
	}
	if !cfg.DenyDelete || !cfg.DenyPurge {
		bad = append(bad, "deleting or purging is allowed: the region's copy must be append-only like the hub's")
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: stream %q here: %s", ErrMirror, cfg.Name, strings.Join(bad, "; "))
}

// Result says what Ensure found or did.
type Result struct {
	Created  bool                  // the mirror was made now
	Origin   *jetstream.StreamInfo // the hub's stream
	Mirror   *jetstream.StreamInfo // the region's mirror
	Contract jwtrevoke.Contract    // the contract both carry
	// Region is the region's JetStream domain.
	Region string
	// Consumer is the mirror's durable consumer at the hub, "" for a
	// mirror made with an ephemeral one (by hand, or before Ensure made
	// durable ones): it works, and recovers from a cut more slowly.
	Consumer string
}

// DurableName is the name of the durable consumer at the hub that the
// mirror of stream in the region of JetStream domain region follows.
func DurableName(stream, region string) string { return stream + "_MIRROR_" + region }

// DeliverSubject is the subject the hub delivers that consumer's events
// on, into the region.
func DeliverSubject(stream, region string) string { return "jwtrevoke_mirror." + stream + "." + region }

// Ensure makes sure the JetStream domain nc's server is in holds the
// mirror of the hub's revocation stream: it reads the hub's stream through
// the hub's domain, creates the mirror if there is none, and checks an
// existing stream of that name (CheckMirror) otherwise. It refuses a hub
// stream that carries no contract, or is itself a mirror (the region's
// agents could not tell how fresh its origin is), and a connection to the
// hub itself. A leaf node not linked to the hub yet is waited for until
// ctx ends. It is safe to run again, and from several places at once.
func Ensure(ctx context.Context, nc *nats.Conn, c Config) (Result, error) {
	c = c.withDefaults()
	if strings.ContainsAny(c.HubDomain, ".*> \t\r\n") {
		return Result{}, fmt.Errorf("%w: %q is not a JetStream domain (one subject token: no dots, wildcards or spaces)", ErrMirror, c.HubDomain)
	}
	hub, err := jetstream.NewWithDomain(nc, c.HubDomain)
	if err != nil {
		return Result{}, fmt.Errorf("jwtrevoke/region: %w", err)
	}
	// A leaf node just started may not carry the hub's interest yet.
	var origin jetstream.Stream
	err = jsretry.Linked(ctx, func(ctx context.Context) (err error) {
		origin, err = hub.Stream(ctx, c.Stream)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("%w: the hub's stream %q in JetStream domain %q: %v (is this leaf node connected to the hub, and does the hub's stream exist? jwtrevoke serve or revoke at the hub creates it)", ErrMirror, c.Stream, c.HubDomain, err)
	}
	oi := origin.CachedInfo()
	res := Result{Origin: oi}
	if oi.Config.Mirror != nil {
		return res, fmt.Errorf("%w: the hub's stream %q is itself a mirror (of %q): mirror the stream the publishers write to", ErrMirror, c.Stream, oi.Config.Mirror.Name)
	}
	ct, ok, err := jwtrevoke.ContractFromMetadata(oi.Config.Metadata)
	if err != nil {
		return res, fmt.Errorf("%w: the hub's stream: %v", ErrMirror, err)
	}
	if !ok {
		return res, fmt.Errorf("%w: the hub's stream %q carries no contract in its metadata (made by hand or by an old version): the region's agents could not know its limits; let a publisher create it", ErrMirror, c.Stream)
	}
	res.Contract = ct
	local, err := jetstream.New(nc)
	if err != nil {
		return res, fmt.Errorf("jwtrevoke/region: %w", err)
	}
	ai, err := local.AccountInfo(ctx)
	if err != nil {
		return res, fmt.Errorf("%w: this server's JetStream: %v", ErrMirror, err)
	}
	switch ai.Domain {
	case "":
		return res, fmt.Errorf("%w: this server has no JetStream domain: a region's leaf node needs one of its own (deploy/nats/region-a.conf)", ErrMirror)
	case c.HubDomain:
		return res, fmt.Errorf("%w: this server is in the hub's JetStream domain %q: connect to the region's leaf node", ErrMirror, c.HubDomain)
	}
	res.Region = ai.Domain
	durable := durableSource{Name: DurableName(c.Stream, ai.Domain), DeliverSubject: DeliverSubject(c.Stream, ai.Domain)}
	st, err := local.Stream(ctx, c.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := ensureDurable(ctx, nc, c.HubDomain, c.Stream, durable); err != nil {
			return res, err
		}
		err = createMirror(ctx, nc, MirrorConfig(oi.Config, c.HubDomain, c.Replicas), durable)
		if err == nil {
			res.Created = true
		}
		if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Made now, or meanwhile by another Ensure: check it like any other.
			st, err = local.Stream(ctx, c.Stream)
		}
	}
	if err != nil {
		return res, fmt.Errorf("%w: stream %q here: %v", ErrMirror, c.Stream, err)
	}
	res.Mirror = st.CachedInfo()
	if err := CheckMirror(res.Mirror.Config, oi.Config, c.HubDomain); err != nil {
		return res, err
	}
	src, err := mirrorSource(ctx, nc, c.Stream)
	if err != nil {
		return res, err
	}
	if src != nil {
		if *src != durable {
			return res, fmt.Errorf("%w: stream %q here follows the hub's consumer %q on %q, not this region's %q on %q", ErrMirror, c.Stream, src.Name, src.DeliverSubject, durable.Name, durable.DeliverSubject)
		}
		// Made by hand, or removed at the hub: the mirror needs it.
		if err := ensureDurable(ctx, nc, c.HubDomain, c.Stream, durable); err != nil {
			return res, err
		}
		res.Consumer = src.Name
	}
	return res, nil
}
