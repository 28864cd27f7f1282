package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
)

// dying is a snapshot writer that dies after n bytes.
type dying struct {
	r io.Reader
	n int
}

func (d *dying) Read(p []byte) (int, error) {
	if d.n <= 0 {
		return 0, errors.New("writer killed")
	}
	p = p[:min(len(p), d.n)]
	n, err := d.r.Read(p)
	d.n -= n
	return n, err
}

// TestWriterDiesMidWrite: a snapshot whose writer dies midway (here, its
// byte source fails after 100 KiB of a larger snapshot) leaves no
// snapshot behind, and the bucket's newest is still the last whole one.
func TestWriterDiesMidWrite(t *testing.T) {
	ctx, _, store := newTestStore(t)
	var err error
	now := time.Now()
	set := NewSet()
	for i := range 20000 {
		set.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "jti-" + strconv.Itoa(i), Before: now, Expires: now.Add(time.Hour)})
	}
	h := Header{Stream: "JWTREVOKE", Created: now, Seq: 10, Taken: now, Contract: jwtrevoke.DefaultContract()}
	if _, err := store.Put(ctx, h, set, nil); err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	h.Seq, h.Count = 20, uint64(set.Len())
	if err := Write(&full, h, set.All(), nil); err != nil {
		t.Fatal(err)
	}
	_, err = store.obj.Put(ctx, jetstream.ObjectMeta{Name: name(20), Metadata: map[string]string{metaSeq: "20", metaCount: strconv.Itoa(set.Len())}},
		&dying{r: &full, n: 100 << 10})
	if err == nil {
		t.Fatal("Put of a dying writer succeeded")
	}
	entries, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Seq != 10 {
		t.Fatalf("after the writer died the bucket lists %+v, want only the snapshot at 10", entries)
	}
	if _, err := store.Read(ctx, entries[0], nil, nil, func(jwtrevoke.Revocation) error { return nil }); err != nil {
		t.Fatalf("the whole snapshot is no longer readable: %v", err)
	}
	// A writer that died after writing parts, before its manifest: its
	// parts are invisible.
	if _, err := store.obj.Put(ctx, jetstream.ObjectMeta{Name: partName(name(30), "dead", 0), Metadata: map[string]string{metaPart: name(30)}}, bytes.NewReader(full.Bytes()[:1000])); err != nil {
		t.Fatal(err)
	}
	if entries, err := store.List(ctx); err != nil || len(entries) != 1 || entries[0].Seq != 10 {
		t.Fatalf("with a dead writer's part the bucket lists %+v, %v; want only the snapshot at 10", entries, err)
	}
}

// TestManyParts: a snapshot larger than a part is written in parts and
// read back whole, and pruning removes an older snapshot's parts with it.
func TestManyParts(t *testing.T) {
	ctx, _, store := newTestStore(t)
	var err error
	now := time.Now()
	set := NewSet()
	const n = 400_000 // 29 bytes each: about 11.6 MB, two parts
	for i := range n {
		set.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "jti-" + strconv.Itoa(i), Before: now, Expires: now.Add(time.Hour)})
	}
	h := Header{Stream: "JWTREVOKE", Created: now, Taken: now, Contract: jwtrevoke.DefaultContract()}
	for _, seq := range []uint64{1, 2} {
		h.Seq = seq
		if _, err := store.Put(ctx, h, set, nil); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := store.List(ctx)
	if err != nil || len(entries) != 2 {
		t.Fatalf("List() = %d entries, %v; want 2", len(entries), err)
	}
	if p := entries[0].Info.Metadata[metaParts]; p != "2" || entries[0].Size <= partSize {
		t.Fatalf("newest snapshot in %s parts, %d bytes; want 2 parts over %d bytes", p, entries[0].Size, partSize)
	}
	got := 0
	if _, err := store.Read(ctx, entries[0], nil, nil, func(jwtrevoke.Revocation) error { got++; return nil }); err != nil || got != n {
		t.Fatalf("Read() = %d revocations, %v; want %d", got, err, n)
	}
	if err := store.Prune(ctx, 1); err != nil {
		t.Fatal(err)
	}
	infos, err := store.obj.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 { // the kept manifest and its two parts
		var names []string
		for _, in := range infos {
			names = append(names, in.Name)
		}
		t.Fatalf("after Prune(1) the bucket holds %v; want one manifest and its two parts", names)
	}
}

// TestPutWaitsForTheBucket: a write that finds no responder for the
// bucket's stream (on a cluster, a bucket whose stream has no leader yet;
// here, its stream deleted until the test recreates it) is sent again
// until the stream answers, and the snapshot is then whole.
func TestPutWaitsForTheBucket(t *testing.T) {
	ctx, js, store := newTestStore(t)
	var err error
	if err := js.DeleteStream(ctx, "OBJ_TEST_SNAPSHOTS"); err != nil {
		t.Fatal(err)
	}
	retried := make(chan error, 1)
	onPutRetry = func(err error) {
		select {
		case retried <- err:
		default:
		}
	}
	defer func() { onPutRetry = func(error) {} }()
	now := time.Now()
	set := NewSet()
	set.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "jti-1", Before: now, Expires: now.Add(time.Hour)})
	h := Header{Stream: "JWTREVOKE", Created: now, Seq: 7, Taken: now, Contract: jwtrevoke.DefaultContract()}
	put := make(chan error, 1)
	go func() {
		_, err := store.Put(ctx, h, set, nil)
		put <- err
	}()
	select {
	case err := <-retried:
		t.Logf("retrying after: %v", err)
	case err := <-put:
		t.Fatalf("Put returned %v without waiting for the bucket's stream", err)
	}
	if _, err := Create(ctx, js, "TEST_SNAPSHOTS", 1); err != nil {
		t.Fatal(err)
	}
	if err := <-put; err != nil {
		t.Fatalf("Put after the stream came back: %v", err)
	}
	entries, err := store.List(ctx)
	if err != nil || len(entries) != 1 || entries[0].Seq != 7 {
		t.Fatalf("List() = %+v, %v; want the snapshot at 7", entries, err)
	}
	var got int
	if _, err := store.Read(ctx, entries[0], nil, nil, func(jwtrevoke.Revocation) error { got++; return nil }); err != nil || got != 1 {
		t.Fatalf("Read: %d revocations, %v; want 1", got, err)
	}
}

// newTestStore starts an embedded server and returns a context bounded
// by a minute, its JetStream, and the store of a new TEST_SNAPSHOTS bucket.
// Everything is shut down when the test ends.
func newTestStore(t *testing.T) (context.Context, jetstream.JetStream, *Store) {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	store, err := Create(ctx, js, "TEST_SNAPSHOTS", 1)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, js, store
}
