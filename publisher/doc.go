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
// The stream keeps every event of a key until it expires, and agents merge
// a key's events: the latest cut-off and the latest expiry of the valid
// ones win, not the last one written. So nothing another writer of the
// stream publishes (garbage, an unsigned event where signatures are
// required, an older event re-published) can shadow a valid revocation,
// for live agents, starting ones, or ones settling an "unknown" verdict.
// Revoke also merges the key's latest event into the one it writes.
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
