// Package snapshot writes and reads snapshots of the live revocation set:
// every live revocation as of stream sequence S, merged per key, in a
// JetStream Object Store bucket beside the stream. An agent that starts
// from the newest valid snapshot replays only the events after S, so a
// new replica is ready in the time it takes to read the snapshot rather
// than the whole stream. The format is docs/snapshot-format.md.
//
// Take replays the stream and writes one snapshot (a cron job, `jwtrevoke
// snapshot`); a Snapshotter keeps tailing and writes one periodically
// (`jwtrevoke serve`). Store lists, reads and prunes a bucket's snapshots.
//
// A snapshot is trusted only as far as it proves itself: a SHA-256 digest
// over every byte, an ed25519 signature when the agent trusts signing keys,
// and a header naming the stream, its incarnation (creation time), the
// sequence and the contract, which the reader checks against the stream
// before it uses a single record.
package snapshot

import (
	"errors"

	"github.com/jwtrevoke/jwtrevoke"
)

// Errors returned by this package.
var (
	// ErrCorrupt: the bytes are not a whole, intact snapshot.
	ErrCorrupt = errors.New("jwtrevoke/snapshot: corrupt snapshot")
	// ErrVersion: a snapshot format this package does not know.
	ErrVersion = errors.New("jwtrevoke/snapshot: unknown snapshot version")
	// ErrMismatch: an intact snapshot of another stream, another
	// incarnation of it, another contract, or a sequence the stream cannot
	// continue from.
	ErrMismatch = errors.New("jwtrevoke/snapshot: snapshot does not fit the stream")
	// ErrNoSnapshot: the bucket is missing or holds no snapshot.
	ErrNoSnapshot = errors.New("jwtrevoke/snapshot: no snapshot")
	ErrBadOption  = errors.New("jwtrevoke/snapshot: bad option")
)

// Bucket is the Object Store bucket that holds the snapshots of the
// stream named stream: "<stream>_SNAPSHOTS".
func Bucket(stream string) string { return stream + "_SNAPSHOTS" }

// DefaultBucket is Bucket(jwtrevoke.DefaultStream).
var DefaultBucket = Bucket(jwtrevoke.DefaultStream)
