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
// # HTTP and metrics
//
// The agent knows no HTTP: package verify has the net/http middleware that
// verifies a request's JWT and asks the agent, and package oauth the RFC
// 7662 introspection endpoint for services that cannot embed an agent.
// IsRevokedJWT is the hook for other JWT middleware. Collector returns the agent's
// Prometheus metrics (checks by outcome, live entries, staleness,
// propagation lag) for a registry of your own; it never labels by token.
//
// # Concurrency
//
// An Agent is safe for use by multiple goroutines. Check takes no lock
// that all callers contend on.
package agent
