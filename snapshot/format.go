package snapshot

// The snapshot format (docs/snapshot-format.md). All integers are
// big-endian; times are int64 Unix nanoseconds; text is UTF-8 with a
// 2-byte byte count.
//
//	header   magic "JWTRSNAP", version 1, stream name, stream created,
//	         sequence S, taken, wire version, subject prefix, max token
//	         lifetime, leeway, record count N
//	records  N × (kind, before, expires, key)
//	digest   SHA-256 of every byte before it
//	signer   key ID length (0: unsigned), key ID, and if signed the
//	         ed25519 signature of "jwtrevoke snapshot v1\x00" ‖ digest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"time"
	"unicode/utf8"

	"github.com/jwtrevoke/jwtrevoke"
)

// Magic opens every snapshot; Version is the format version this package
// writes and reads.
const (
	Magic   = "JWTRSNAP"
	Version = 1
)

// sigContext is signed before the digest, so that a snapshot signature can
// never be taken for an event signature made with the same key.
const sigContext = "jwtrevoke snapshot v1\x00"

// maxRecords bounds the record count a header may claim (2^40, far past
// any live set), so that a corrupt count fails as corrupt.
const maxRecords = 1 << 40

// Header describes a snapshot: which stream, which incarnation of it, up
// to which sequence, under which contract, and how many revocations.
type Header struct {
	Stream   string
	Created  time.Time // the stream's creation time: its incarnation
	Seq      uint64    // every event up to and including Seq is in the snapshot
	Taken    time.Time // when the snapshot was written
	Contract jwtrevoke.Contract
	Count    uint64 // revocations in the snapshot
	// KeyID is the signer's key ID, "" for an unsigned snapshot (set by
	// Read; Write takes the signer separately).
	KeyID string
}

// Write writes h and the revocations of revs, h.Count of them, then the
// digest and, with a signer, the signature. Fewer or more than h.Count is
// an error.
func Write(w io.Writer, h Header, revs iter.Seq[jwtrevoke.Revocation], signer *jwtrevoke.Signer) error {
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	if err := writeHeader(bw, h); err != nil {
		return err
	}
	var n uint64
	var rec []byte
	for r := range revs {
		if n++; n > h.Count {
			return fmt.Errorf("%w: more than the %d revocations the header counts", ErrCorrupt, h.Count)
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("snapshot record %d: %w", n, err)
		}
		rec = appendRecord(rec[:0], r)
		if _, err := bw.Write(rec); err != nil {
			return err
		}
	}
	if n != h.Count {
		return fmt.Errorf("%w: %d revocations, the header counts %d", ErrCorrupt, n, h.Count)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	digest := sum.Sum(nil)
	tail := append([]byte(nil), digest...)
	if signer == nil {
		tail = append(tail, 0)
	} else {
		if signer.KeyID == "" || len(signer.KeyID) > jwtrevoke.MaxKeyIDLen || len(signer.Key) != ed25519.PrivateKeySize {
			return fmt.Errorf("%w: snapshot signer %q", jwtrevoke.ErrBadSigningKey, signer.KeyID)
		}
		tail = append(tail, byte(len(signer.KeyID)))
		tail = append(tail, signer.KeyID...)
		tail = append(tail, ed25519.Sign(signer.Key, append([]byte(sigContext), digest...))...)
	}
	_, err := w.Write(tail)
	return err
}

func writeHeader(w io.Writer, h Header) error {
	if h.Stream == "" || len(h.Stream) > 255 || len(h.Contract.SubjectPrefix) > 255 {
		return fmt.Errorf("%w: stream %q, prefix %q", ErrCorrupt, h.Stream, h.Contract.SubjectPrefix)
	}
	if h.Count > maxRecords {
		return fmt.Errorf("%w: %d records", ErrCorrupt, h.Count)
	}
	b := append([]byte(Magic), Version)
	b = appendText(b, h.Stream)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Taken.UnixNano()))
	b = append(b, byte(h.Contract.WireVersion))
	b = appendText(b, h.Contract.SubjectPrefix)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Contract.MaxTokenLifetime))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Contract.Leeway))
	b = binary.BigEndian.AppendUint64(b, h.Count)
	_, err := w.Write(b)
	return err
}

func appendRecord(b []byte, r jwtrevoke.Revocation) []byte {
	b = append(b, byte(r.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Before.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires.UnixNano()))
	return appendText(b, r.Key)
}

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Read reads a snapshot from r, calling fn with each revocation in order,
// and returns its header once the digest and, if keys is not empty, the
// signature have been checked: the revocations fn saw belong to a valid
// snapshot only if Read returns nil. check, if not nil, is called with the
// header before any record is read and may refuse it (another stream,
// say) with an error Read returns.
//
// A damaged or truncated snapshot is ErrCorrupt; with keys, an unsigned one
// is jwtrevoke.ErrUnsigned, one signed by a key not in keys
// jwtrevoke.ErrUnknownKeyID, and a wrong signature jwtrevoke.ErrBadSignature.
func Read(r io.Reader, keys jwtrevoke.KeySet, check func(Header) error, fn func(jwtrevoke.Revocation) error) (Header, error) {
	rd := &reader{r: bufio.NewReaderSize(r, 64<<10), sum: sha256.New()}
	h, err := rd.header()
	if err != nil {
		return h, err
	}
	if check != nil {
		if err := check(h); err != nil {
			return h, err
		}
	}
	for i := uint64(0); i < h.Count; i++ {
		rev, err := rd.record()
		if err != nil {
			return h, fmt.Errorf("record %d: %w", i+1, err)
		}
		if err := fn(rev); err != nil {
			return h, err
		}
	}
	digest := rd.sum.Sum(nil)
	if h.KeyID, err = rd.trailer(digest, keys); err != nil {
		return h, err
	}
	return h, nil
}

// reader reads the snapshot's fields, hashing what precedes the digest.
type reader struct {
	r   *bufio.Reader
	sum hash.Hash
	buf [256]byte
}

func (rd *reader) full(n int) ([]byte, error) {
	b := rd.buf[:n]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return nil, err
	}
	rd.sum.Write(b)
	return b, nil
}

func (rd *reader) u64() (uint64, error) {
	b, err := rd.full(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

func (rd *reader) text(limit int, what string) (string, error) {
	b, err := rd.full(2)
	if err != nil {
		return "", err
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > limit {
		return "", fmt.Errorf("%w: %s of %d bytes, limit %d", ErrCorrupt, what, n, limit)
	}
	if b, err = rd.full(n); err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: %s is not UTF-8", ErrCorrupt, what)
	}
	return string(b), nil
}

func (rd *reader) header() (Header, error) {
	var h Header
	b, err := rd.full(len(Magic) + 1)
	if err != nil {
		return h, err
	}
	if string(b[:len(Magic)]) != Magic {
		return h, fmt.Errorf("%w: not a jwtrevoke snapshot", ErrCorrupt)
	}
	if b[len(Magic)] != Version {
		return h, fmt.Errorf("%w: version %d, this reader knows %d", ErrVersion, b[len(Magic)], Version)
	}
	if h.Stream, err = rd.text(255, "stream name"); err != nil {
		return h, err
	}
	var created, taken, lifetime, leeway uint64
	for _, p := range []*uint64{&created, &h.Seq, &taken} {
		if *p, err = rd.u64(); err != nil {
			return h, err
		}
	}
	wire, err := rd.full(1)
	if err != nil {
		return h, err
	}
	h.Contract.WireVersion = int(wire[0])
	if h.Contract.SubjectPrefix, err = rd.text(255, "subject prefix"); err != nil {
		return h, err
	}
	for _, p := range []*uint64{&lifetime, &leeway, &h.Count} {
		if *p, err = rd.u64(); err != nil {
			return h, err
		}
	}
	if h.Count > maxRecords {
		return h, fmt.Errorf("%w: header counts %d records", ErrCorrupt, h.Count)
	}
	h.Created, h.Taken = time.Unix(0, int64(created)).UTC(), time.Unix(0, int64(taken)).UTC()
	h.Contract.MaxTokenLifetime, h.Contract.Leeway = time.Duration(lifetime), time.Duration(leeway)
	return h, nil
}

func (rd *reader) record() (jwtrevoke.Revocation, error) {
	var r jwtrevoke.Revocation
	b, err := rd.full(17)
	if err != nil {
		return r, err
	}
	r.Kind = jwtrevoke.Kind(b[0])
	r.Before = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))).UTC()
	r.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(b[9:]))).UTC()
	if r.Key, err = rd.text(jwtrevoke.MaxKeyLen, "key"); err != nil {
		return r, err
	}
	r.Issued = r.Before
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

// trailer checks the digest and the signature block, and returns the
// signer's key ID.
func (rd *reader) trailer(digest []byte, keys jwtrevoke.KeySet) (string, error) {
	var stored [sha256.Size + 1]byte
	if _, err := io.ReadFull(rd.r, stored[:]); err != nil {
		return "", fmt.Errorf("%w: truncated before the digest", ErrCorrupt)
	}
	if string(stored[:sha256.Size]) != string(digest) {
		return "", fmt.Errorf("%w: SHA-256 digest mismatch", ErrCorrupt)
	}
	n := int(stored[sha256.Size])
	var keyID string
	var sig []byte
	if n > 0 {
		rest := make([]byte, n+ed25519.SignatureSize)
		if _, err := io.ReadFull(rd.r, rest); err != nil {
			return "", fmt.Errorf("%w: truncated signature block", ErrCorrupt)
		}
		keyID, sig = string(rest[:n]), rest[n:]
	}
	if _, err := rd.r.ReadByte(); err != io.EOF {
		return keyID, fmt.Errorf("%w: bytes after the end", ErrCorrupt)
	}
	if len(keys) == 0 {
		return keyID, nil
	}
	if n == 0 {
		return "", fmt.Errorf("%w: the snapshot is not signed", jwtrevoke.ErrUnsigned)
	}
	pub, ok := keys[keyID]
	switch {
	case !ok:
		return keyID, fmt.Errorf("%w: snapshot signed by %q", jwtrevoke.ErrUnknownKeyID, keyID)
	case len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(sigContext), digest...), sig):
		return keyID, fmt.Errorf("%w: snapshot signature by %q", jwtrevoke.ErrBadSignature, keyID)
	}
	return keyID, nil
}
