package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/jsretry"
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
	var obj jetstream.ObjectStore
	err := jsretry.Do(ctx, jsretry.Code, func() (err error) {
		obj, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "jwtrevoke snapshots of the live revocation set",
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
		return err
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

// listTry bounds one listing of the bucket, listTries how many are made.
// nats.go lists an Object Store with a watcher that ends when a delivered
// entry says nothing is pending; while another writer changes the bucket
// that can fail to come, and an unbounded listing then waits for ever (a
// snapshotter's prune hung so, with the other snapshotter writing, about
// one run in a hundred under load). A listing that runs out of time is
// made again.
const (
	listTry   = 2 * time.Second
	listTries = 3
)

// onListRetry is called before a listing is made again; tests count it.
var onListRetry = func() {}

// list lists every object of the bucket (listTry, listTries).
func (s *Store) list(ctx context.Context) ([]*jetstream.ObjectInfo, error) {
	for try := 1; ; try++ {
		lctx, cancel := context.WithTimeout(ctx, listTry)
		infos, err := s.obj.List(lctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || try == listTries {
			return infos, err
		}
		onListRetry()
	}
}

// List returns the bucket's snapshots, newest (highest sequence) first.
// An object that is not a snapshot is left out.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	infos, err := s.list(ctx)
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
		size, _ := strconv.ParseUint(in.Metadata[metaBytes], 10, 64)
		out = append(out, Entry{Name: in.Name, Seq: seq, Count: count, Size: size, Info: in})
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

// A snapshot is stored as parts of at most partSize bytes, then a small
// manifest object named name(S) that lists them: big objects are written
// in pieces small enough that nats.go's asynchronous chunk publishes never
// outrun a stream's ingest queue (128 MiB; past it the server answers "429
// too many requests", and a stalled client gives up), and the manifest,
// written last, makes the snapshot appear whole or not at all. Parts carry
// a nonce of their writer, so two writers of one sequence never mix parts.
const partSize = 8 << 20

// metaParts and metaNonce are the manifest's metadata: how many parts, and
// the writer's nonce in their names.
const (
	metaParts = "jwtrevoke.snapshot_parts"
	metaNonce = "jwtrevoke.snapshot_nonce"
	metaPart  = "jwtrevoke.snapshot_part_of"
	metaBytes = "jwtrevoke.snapshot_bytes"
)

// orphanAge is how old a part no manifest names must be before Prune
// deletes it: a writer still writing its parts is younger.
const orphanAge = time.Hour

func partName(manifest, nonce string, i int) string {
	return fmt.Sprintf("%s.%s.part-%05d", manifest, nonce, i)
}

// Put writes a snapshot of set under h (h.Count is set from the set),
// streaming it into the bucket. A snapshot of the same sequence replaces
// the one there. A writer that dies midway leaves no snapshot, only parts
// that Prune deletes later.
func (s *Store) Put(ctx context.Context, h Header, set *Set, signer *jwtrevoke.Signer) (Entry, error) {
	h.Count = uint64(set.Len())
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(Write(pw, h, set.All(), signer)) }()
	defer pr.Close() // unblocks the writer if a part failed
	manifest, nonce := name(h.Seq), nuid.Next()
	br := bufio.NewReaderSize(pr, 64<<10)
	var size uint64
	parts := 0
	buf := make([]byte, partSize)
	for ; ; parts++ {
		// Each part is read whole first, so that a write refused while the
		// bucket's stream has no leader yet can be sent again.
		n, err := io.ReadFull(br, buf)
		if n == 0 && errors.Is(err, io.EOF) {
			break
		} else if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return Entry{}, fmt.Errorf("jwtrevoke/snapshot: writing %s: %w", manifest, err)
		}
		info, err := s.put(ctx, jetstream.ObjectMeta{
			Name:     partName(manifest, nonce, parts),
			Metadata: map[string]string{metaPart: manifest},
		}, buf[:n])
		if err != nil {
			return Entry{}, fmt.Errorf("jwtrevoke/snapshot: writing %s part %d: %w", manifest, parts, err)
		}
		size += info.Size
	}
	info, err := s.put(ctx, jetstream.ObjectMeta{
		Name:        manifest,
		Description: fmt.Sprintf("jwtrevoke snapshot of %s at sequence %d", h.Stream, h.Seq),
		Metadata: map[string]string{
			metaSeq:     strconv.FormatUint(h.Seq, 10),
			metaStream:  h.Stream,
			metaCount:   strconv.FormatUint(h.Count, 10),
			metaVersion: strconv.Itoa(Version),
			metaParts:   strconv.Itoa(parts),
			metaNonce:   nonce,
			metaBytes:   strconv.FormatUint(size, 10),
		},
	}, []byte(manifest))
	if err != nil {
		return Entry{}, fmt.Errorf("jwtrevoke/snapshot: writing %s: %w", manifest, err)
	}
	return Entry{Name: manifest, Seq: h.Seq, Count: h.Count, Size: size, Info: info}, nil
}

// putPatience bounds how long put retries a write that found no
// responder: on a cluster, a bucket just created may have no stream leader
// for a few seconds (an election takes 2-10 s here), and its first writes
// are answered "no responders".
const putPatience = 30 * time.Second

// put writes one object, again while the bucket's stream has no responder.
func (s *Store) put(ctx context.Context, meta jetstream.ObjectMeta, data []byte) (*jetstream.ObjectInfo, error) {
	deadline := time.Now().Add(putPatience)
	wait := 20 * time.Millisecond
	for {
		info, err := s.obj.Put(ctx, meta, bytes.NewReader(data))
		if err == nil || !noResponders(err) || time.Now().Add(wait).After(deadline) {
			return info, err
		}
		onPutRetry(err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, time.Second)
	}
}

// onPutRetry is called before each retry of put; tests wait on it.
var onPutRetry = func(error) {}

func noResponders(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// Read reads the snapshot e (see the package function Read): each part's
// own digest is checked by the Object Store, the snapshot's by Read.
func (s *Store) Read(ctx context.Context, e Entry, keys jwtrevoke.KeySet, check func(Header) error, fn func(jwtrevoke.Revocation) error) (Header, error) {
	parts, err := strconv.Atoi(e.Info.Metadata[metaParts])
	nonce := e.Info.Metadata[metaNonce]
	if err != nil || parts < 0 || nonce == "" {
		return Header{}, fmt.Errorf("%w: manifest %s names no parts", ErrCorrupt, e.Name)
	}
	r := &partsReader{ctx: ctx, s: s, manifest: e.Name, nonce: nonce, parts: parts}
	h, err := Read(r, keys, check, fn)
	if err == nil && h.Seq != e.Seq {
		err = fmt.Errorf("%w: object %s holds sequence %d", ErrCorrupt, e.Name, h.Seq)
	}
	return h, err
}

// partsReader reads a snapshot's parts one after the other. Each part is
// read whole into memory (at most partSize) as soon as it is opened: the
// Object Store delivers an object on a subscription that fails ("nats:
// timeout") when its reader stalls, and the caller may stall for as long
// as it takes to apply a part's records.
type partsReader struct {
	ctx             context.Context
	s               *Store
	manifest, nonce string
	parts, next     int
	cur             *bytes.Reader
}

func (r *partsReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.cur.Len() == 0 {
		if r.next == r.parts {
			return 0, io.EOF
		}
		b, err := r.s.obj.GetBytes(r.ctx, partName(r.manifest, r.nonce, r.next))
		if err != nil {
			return 0, fmt.Errorf("%w: part %d of %s: %w", ErrCorrupt, r.next, r.manifest, err)
		}
		r.cur, r.next = bytes.NewReader(b), r.next+1
	}
	return r.cur.Read(p)
}

// Prune deletes all but the newest keep snapshots, and parts no manifest
// names that are older than a writer would take.
func (s *Store) Prune(ctx context.Context, keep int) error {
	entries, err := s.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	pruned := map[string]bool{}
	for _, e := range entries[min(max(keep, 1), len(entries)):] {
		if err := s.obj.Delete(ctx, e.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, err)
			continue
		}
		pruned[e.Name] = true
	}
	kept := map[string]bool{}
	for _, e := range entries[:min(max(keep, 1), len(entries))] {
		kept[e.Name+"."+e.Info.Metadata[metaNonce]+"."] = true
	}
	infos, err := s.list(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return errors.Join(append(errs, err)...)
	}
	for _, in := range infos {
		m, ok := in.Metadata[metaPart]
		if !ok || in.Deleted {
			continue
		}
		// A part of a pruned snapshot goes now; one no kept manifest names
		// (a dead writer's, or a replaced one's) once it is older than any
		// writer still at work would be.
		prefix := in.Name[:strings.LastIndex(in.Name, ".part-")+1]
		if !pruned[m] && (kept[prefix] || time.Since(in.ModTime) < orphanAge) {
			continue
		}
		if err := s.obj.Delete(ctx, in.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
