// Package agent keeps an API replica's view of revoked tokens: it replays
// the revocation stream from NATS JetStream into an in-memory filter, tails
// it, and answers "is this token revoked?" locally, without network I/O or
// allocation on the request path.
//
// # Lifecycle
//
// New connects to the stream and starts two goroutines: an ordered
// consumer that applies every event in stream order, and a prober that asks
// the server for the stream's last sequence once per probe interval. The
// agent is ready once it has applied every event that existed when it
// started (Ready, WaitReady). It is fresh as of the last time the server
// answered a probe and everything up to that answer's last sequence was
// applied; Staleness is the time since. Close stops both goroutines and
// waits for them.
//
// # Verdicts
//
// Check combines the filter's verdict with freshness and the policy:
//
//   - Revoked: a live revocation matches; the token is refused.
//   - Unknown (the filter's exact entries were evicted to keep within the
//     memory budget): the agent fetches that key's latest event from the
//     stream with a short timeout and caches the answer; if the server
//     cannot answer, the policy decides.
//   - Stale or not ready: the policy decides. FailClosed (the default)
//     refuses, FailOpen answers from memory and counts it loudly.
//
// # Concurrency
//
// An Agent is safe for use by multiple goroutines. Check takes no lock
// that all callers contend on.
package agent
