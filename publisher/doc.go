// Package publisher turns "revoke this" into durable revocation events on a
// NATS JetStream stream, which every jwtrevoke agent replays and tails.
//
// A Publisher creates the stream (or checks an existing one) with a
// configuration that never silently drops a live revocation: file storage,
// MaxAge of the longest token lifetime plus leeway, per-key latest events
// (one message per key subject), deduplication by message ID, deletes and
// purges denied, no message or byte limits that would discard old events.
//
// Every Revoke method returns only after the server acknowledged the event,
// so once it returns, the revocation survives a server restart and reaches
// every agent. Retries reuse the event's message ID, so a retry after a lost
// acknowledgement never stores a second copy.
//
// Events for one key are merged at the publisher: before writing, it reads
// that key's latest event and keeps the later cut-off and expiry, and writes
// with an expected-last-subject-sequence guard, so the latest event of a key
// is always the one that matters. Agents rely on that when they settle an
// "unknown" verdict by fetching a key's latest event.
//
// # HTTP and metrics
//
// NewRevocationHandler is an OAuth 2.0 token revocation endpoint (RFC 7009)
// over a Publisher: clients post a token, a valid one is revoked by its
// jti, and every other answer follows the RFC (200 for tokens that are not
// valid, 503 only when the revocation could not be stored). Collector
// returns the publisher's Prometheus metrics for a registry of your own.
//
// A Publisher is safe for use by multiple goroutines.
package publisher
