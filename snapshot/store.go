package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
)

// Object metadata keys: what a reader can know of a snapshot without
// reading it.
const (
	metaSeq     = "jwtrevoke.snapshot_seq"
	metaStream  = "jwtrevoke.snapshot_stream"
	metaCount   = "jwtrevoke.snapshot_count"
	metaVersion = "jwtrevoke.snapshot_version"
)

// Store is one bucket of snapshots. It is safe for use by multiple
// goroutines.
type Store struct {
	obj jetstream.ObjectStore
}

// Open returns the store of an existing bucket, or ErrNoSnapshot (wrapping
// jetstream.ErrBucketNotFound) if there is none.
func Open(ctx context.Context, js jetstream.JetStream, bucket string) (*Store, error) {
	obj, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %q: %w", ErrNoSnapshot, bucket, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/snapshot: bucket %q: %w", bucket, err)
	}
	return &Store{obj: obj}, nil
}

// Create returns the store of bucket, creating the bucket (file storage,
// replicas copies) if it does not exist.
func Create(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Store, error) {
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      bucket,
		Description: "jwtrevoke snapshots of the live revocation set",
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/snapshot: creating bucket %q: %w", bucket, err)
	}
	return &Store{obj: obj}, nil
}

// Entry is one snapshot of a bucket, as listed.
type Entry struct {
	Name  string
	Seq   uint64
	Count uint64
	Size  uint64
	Info  *jetstream.ObjectInfo
}

// name is the object name of the snapshot at seq: zero-padded, so that
// names sort as sequences do.
func name(seq uint64) string { return fmt.Sprintf("snapshot-%020d", seq) }

// List returns the bucket's snapshots, newest (highest sequence) first.
// An object that is not a snapshot is left out.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	infos, err := s.obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/snapshot: listing: %w", err)
	}
	var out []Entry
	for _, in := range infos {
		seq, err := strconv.ParseUint(in.Metadata[metaSeq], 10, 64)
		if err != nil || in.Deleted || in.Name != name(seq) {
			continue
		}
		count, _ := strconv.ParseUint(in.Metadata[metaCount], 10, 64)
		out = append(out, Entry{Name: in.Name, Seq: seq, Count: count, Size: in.Size, Info: in})
	}
	slices.SortFunc(out, func(a, b Entry) int { return -cmpUint(a.Seq, b.Seq) })
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Put writes a snapshot of set under h (h.Count is set from the set),
// streaming it into the bucket. A snapshot of the same sequence replaces
// the one there. Object Store writes the object's chunks first and its
// description last, so a writer that dies midway leaves no snapshot.
func (s *Store) Put(ctx context.Context, h Header, set *Set, signer *jwtrevoke.Signer) (Entry, error) {
	h.Count = uint64(set.Len())
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(Write(pw, h, set.All(), signer)) }()
	info, err := s.obj.Put(ctx, jetstream.ObjectMeta{
		Name:        name(h.Seq),
		Description: fmt.Sprintf("jwtrevoke snapshot of %s at sequence %d", h.Stream, h.Seq),
		Metadata: map[string]string{
			metaSeq:     strconv.FormatUint(h.Seq, 10),
			metaStream:  h.Stream,
			metaCount:   strconv.FormatUint(h.Count, 10),
			metaVersion: strconv.Itoa(Version),
		},
	}, pr)
	pr.CloseWithError(err) // unblocks the writer if Put gave up
	if err != nil {
		return Entry{}, fmt.Errorf("jwtrevoke/snapshot: writing %s: %w", name(h.Seq), err)
	}
	return Entry{Name: info.Name, Seq: h.Seq, Count: h.Count, Size: info.Size, Info: info}, nil
}

// Read reads the snapshot e (see the package function Read): the object's
// own digest is checked by the Object Store, the snapshot's by Read.
func (s *Store) Read(ctx context.Context, e Entry, keys jwtrevoke.KeySet, check func(Header) error, fn func(jwtrevoke.Revocation) error) (Header, error) {
	res, err := s.obj.Get(ctx, e.Name)
	if err != nil {
		return Header{}, fmt.Errorf("jwtrevoke/snapshot: reading %s: %w", e.Name, err)
	}
	defer res.Close()
	h, err := Read(res, keys, check, fn)
	if err == nil && h.Seq != e.Seq {
		err = fmt.Errorf("%w: object %s holds sequence %d", ErrCorrupt, e.Name, h.Seq)
	}
	return h, err
}

// Prune deletes all but the newest keep snapshots.
func (s *Store) Prune(ctx context.Context, keep int) error {
	entries, err := s.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries[min(max(keep, 1), len(entries)):] {
		if err := s.obj.Delete(ctx, e.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
