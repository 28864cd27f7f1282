package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

type snapshotOptions struct {
	g         *clitool.Globals
	bucket    string
	keep      int
	replicas  int
	every     time.Duration
	timeout   time.Duration
	trust     []string
	signKey   string
	signKeyID string
}

// NewSnapshotCommand returns `jwtrevoke snapshot`. It reads the global
// flags from g.
func NewSnapshotCommand(g *clitool.Globals) *cobra.Command {
	o := &snapshotOptions{g: g}
	c := &cobra.Command{
		Use:   "snapshot",
		Short: "Write a snapshot of the live revocations, so new agents replay only what came after",
		Long: `Snapshot replays the revocation stream to its last sequence and writes the live
revocations, merged per key, to the stream's Object Store bucket
(<stream>_SNAPSHOTS, created if missing; docs/snapshot-format.md). Agents start
from the newest valid snapshot and replay only the events after it. Run it from
cron or a Kubernetes CronJob, or with --every as a long-running process (serve
runs one by itself).

Where agents trust signing keys, give the same keys with --trust-key (the
snapshot then holds only signed events) and sign the snapshot with --sign-key:
such agents refuse an unsigned one.

Exit status: 0 written, 1 failed (no server, no stream, an empty stream, the
bucket could not be written), 2 usage error.`,
		Example: `  jwtrevoke snapshot
  jwtrevoke snapshot --json
  jwtrevoke snapshot --trust-key ops-1=ops-1.pub --sign-key ops-1.pem --sign-key-id ops-1
  jwtrevoke snapshot --every 5m      # keep writing one every 5 minutes with new events`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := c.Flags()
	f.StringVar(&o.bucket, "bucket", "", "the Object Store bucket (default <stream>_SNAPSHOTS)")
	f.IntVar(&o.keep, "keep", 3, "keep the newest N snapshots, delete older ones")
	f.IntVar(&o.replicas, "replicas", 1, "replicas of the bucket when it is created (give the stream's: 3 on a cluster)")
	f.DurationVar(&o.every, "every", 0, "keep running and write a snapshot this often, when events arrived (0: write one and exit)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on one snapshot after this long (a large stream takes a while to replay)")
	f.StringArrayVar(&o.trust, "trust-key", nil, "key-id=file: keep only events signed by these ed25519 public keys (repeatable), as the agents do")
	f.StringVar(&o.signKey, "sign-key", "", "sign the snapshot with this ed25519 private key file (PKCS#8 PEM, or a 32-byte seed as hex, base64 or raw bytes)")
	f.StringVar(&o.signKeyID, "sign-key-id", "", "the key ID agents know --sign-key by (required with --sign-key)")
	return c
}

func (o *snapshotOptions) options() ([]snapshot.Option, error) {
	if o.keep < 1 || o.replicas < 1 || o.replicas > 5 || o.every < 0 || o.timeout <= 0 {
		return nil, clitool.Usage(fmt.Errorf("--keep %d, --replicas %d, --every %v, --timeout %v: want keep ≥ 1, replicas 1..5, every ≥ 0, timeout > 0", o.keep, o.replicas, o.every, o.timeout))
	}
	opts := []snapshot.Option{snapshot.WithStream(o.g.Stream), snapshot.WithKeep(o.keep), snapshot.WithReplicas(o.replicas), snapshot.WithLogger(o.g.Logger())}
	if o.bucket != "" {
		opts = append(opts, snapshot.WithBucket(o.bucket))
	}
	if o.every > 0 {
		opts = append(opts, snapshot.WithInterval(o.every))
	}
	trusted, err := parseTrustKeys(o.trust)
	if err != nil {
		return nil, err
	}
	if trusted != nil {
		opts = append(opts, snapshot.WithTrustedKeys(trusted))
	}
	switch {
	case o.signKey == "" && o.signKeyID == "":
	case o.signKey == "" || o.signKeyID == "":
		return nil, clitool.Usage(errors.New("--sign-key and --sign-key-id go together"))
	default:
		key, err := readSigningKey(o.signKey)
		if err != nil {
			return nil, fmt.Errorf("--sign-key: %w", err)
		}
		opts = append(opts, snapshot.WithSigner(o.signKeyID, key))
	}
	return opts, nil
}

// snapshotReport is what snapshot prints.
type snapshotReport struct {
	Bucket      string `json:"bucket"`
	Name        string `json:"name"`
	Seq         uint64 `json:"seq"`
	Revocations uint64 `json:"revocations"`
	Bytes       uint64 `json:"bytes"`
	TookMS      int64  `json:"took_ms"`
}

func (o *snapshotOptions) run(ctx context.Context, out io.Writer) error {
	opts, err := o.options()
	if err != nil {
		return err
	}
	nc, err := o.g.Connect(ctx, "jwtrevoke snapshot")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if o.every > 0 {
		return o.keepWriting(ctx, js, opts)
	}
	tctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	e, err := snapshot.Take(tctx, js, opts...)
	if err != nil {
		return err
	}
	bucket := o.bucket
	if bucket == "" {
		bucket = snapshot.Bucket(o.g.Stream)
	}
	rep := snapshotReport{Bucket: bucket, Name: e.Name, Seq: e.Seq, Revocations: e.Count, Bytes: e.Size, TookMS: time.Since(start).Milliseconds()}
	if o.g.JSON {
		return printJSON(out, rep)
	}
	_, err = fmt.Fprintf(out, "Wrote %s to bucket %s: %d live revocations as of sequence %d, %s, in %v\n",
		rep.Name, rep.Bucket, rep.Revocations, rep.Seq, byteSize(rep.Bytes), time.Duration(rep.TookMS)*time.Millisecond)
	return err
}

// keepWriting runs a Snapshotter until ctx ends (SIGINT, SIGTERM).
func (o *snapshotOptions) keepWriting(ctx context.Context, js jetstream.JetStream, opts []snapshot.Option) error {
	s, err := snapshot.NewSnapshotter(js, opts...)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
