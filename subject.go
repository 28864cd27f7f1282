package jwtrevoke

// NATS subjects and message IDs. A subject names an event's kind and a hash
// of its key, never the raw key: keys may hold '.', '*' and '>', which are
// syntax in NATS subjects, and a fixed-length token keeps subjects short.

import (
	"crypto/sha256"
	"encoding/hex"
)

// DefaultSubjectPrefix is the subject prefix used when none is given.
// Its last token is the wire format version.
const DefaultSubjectPrefix = "jwtrevoke.v1"

// KeyToken returns the subject token of a revocation key: the lowercase hex
// of the first 16 bytes of the SHA-256 of the key's UTF-8 bytes (32
// characters). KindAll has the empty key, so its token is the hash of "".
func KeyToken(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// Subject returns the NATS subject of a revocation of kind k and key:
// prefix.kind.KeyToken(key), e.g. "jwtrevoke.v1.sub.<32 hex digits>".
// An empty prefix means DefaultSubjectPrefix. A stream can keep the latest
// event per subject, and an agent can fetch one key's event directly.
func Subject(prefix string, k Kind, key string) string {
	if prefix == "" {
		prefix = DefaultSubjectPrefix
	}
	return prefix + "." + k.String() + "." + KeyToken(key)
}

// SubjectFilter returns the NATS subject filter that matches every
// revocation subject under prefix: prefix + ".>". An empty prefix means
// DefaultSubjectPrefix.
func SubjectFilter(prefix string) string {
	if prefix == "" {
		prefix = DefaultSubjectPrefix
	}
	return prefix + ".>"
}

// ConsumerFilter returns the subject filters a consumer of the revocations
// under prefix passes for a stream whose subjects are streamSubjects: none
// when the stream holds only those revocations (what publisher.New
// creates), else SubjectFilter(prefix). A filter that matches the whole
// stream changes nothing the consumer gets, but the server then counts
// pending messages and finds the first one by matching the filter against
// every subject the stream holds, which with millions of keys stalls the
// consumer past its heartbeats.
func ConsumerFilter(streamSubjects []string, prefix string) []string {
	f := SubjectFilter(prefix)
	if len(streamSubjects) == 1 && streamSubjects[0] == f {
		return nil
	}
	return []string{f}
}

// MsgID returns the message ID to publish event under (the Nats-Msg-Id
// header, for JetStream's duplicate window): "jr1-" followed by the
// lowercase hex of the first 16 bytes of the SHA-256 of the event without
// its 64 signature bytes — the body, and for a signed event the algorithm
// byte, key ID length and key ID. So a retry of one event keeps its ID, and
// the same body signed by another key (a key rotation) has another ID and
// is stored, not dropped as a duplicate of the old key's copy. Input that
// does not parse as an event is hashed whole.
func MsgID(event []byte) string {
	covered := event
	if f, err := parseFrame(event); err == nil && f.sig != nil {
		covered = event[:len(event)-len(f.sig)]
	}
	sum := sha256.Sum256(covered)
	return "jr1-" + hex.EncodeToString(sum[:16])
}
