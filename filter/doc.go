// Package filter is the in-memory revocation set that answers, on the request
// path, "is this token revoked?" with one of three verdicts: NotRevoked,
// Revoked or Unknown.
//
// # Model
//
// Every live revocation of a keyed kind (jti, sub, sid, kid) is in two places,
// and while they fit a quarter of the budget in a third:
//
//   - a Bloom filter, which answers the common "no" in a few hashes and memory
//     reads. The bit arrays and their sizing come from
//     github.com/bits-and-blooms/bloom/v3; bit positions are derived here from
//     one seeded 64-bit hash of the key (hash/maphash), and bits are read and
//     set with atomic operations, so checks never wait for an Add.
//   - a table of exact entries keyed by the same 64-bit hash, holding the
//     cut-off time and expiry (open addressing over 32-byte slots, read
//     without a lock; the oldest write is evicted first), sized so that the
//     Bloom filters and the table together stay within a memory budget.
//   - a compact layer: a binary fuse filter (github.com/FastFilter/xorfilter)
//     of every live key, rebuilt in the background, and a small Bloom part
//     for the keys added since. It answers most "no"s in three loads before
//     the generations are probed, and sends everything else on to them.
//
// A Bloom "maybe" is settled by the exact entries. While no live entry has
// been evicted, a "maybe" they do not hold is a Bloom false positive and the verdict is
// NotRevoked: no false positives. Once live entries have been evicted, such a
// "maybe" is Unknown: the filter never guesses NotRevoked, so there are no false
// negatives. The caller (the agent) settles Unknown off the common path, for
// example by fetching that key's latest event and handing it to Settle.
//
// Bloom filters cannot delete, so each kind's filters are grouped in
// generations by expiry time: a generation holds the entries that expire in
// one window of time and is dropped whole once its window has passed. Within
// a generation the filter grows by adding segments of twice the capacity with
// tightening false-positive targets, so the measured false-positive rate stays
// at its target as the set grows from nothing to millions; a new generation is
// sized from the ones before it, so in steady state it has one segment.
//
// Revocations of every token issued before a time ("all") have no key; the
// filter keeps the few live ones in a small immutable list.
//
// The exact side keeps a 64-bit keyed hash of the key, not the key. Two live
// keys whose hashes collide would make one revoke the other; with a per-filter
// random seed the chance is about n/2^64 per check (5e-13 at 10 million
// entries), and an attacker cannot aim for it without the seed.
//
// # Concurrency
//
// A Filter is safe for use by multiple goroutines. Checks take no lock while
// the Bloom filters answer "no" (the structure they walk is an immutable view
// swapped through an atomic.Pointer; bits are loaded atomically) and do not
// allocate. A "maybe" reads the exact entries without a lock either (each
// slot under a sequence word). Writes (Add, Settle, Expire) are serialized by
// one mutex and never block checks.
package filter
