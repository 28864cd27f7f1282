// Package cli holds the jwtrevoke verbs an operator runs from a shell:
// revoke (write a revocation event), check (ask a local agent about a
// token), watch (tail the stream's events) and status (the stream and its
// live revocations), with what they share: reading tokens, times and keys
// from arguments and files, and printing receipts, verdicts and events as
// text or JSON (--json).
//
// It builds on internal/cli/clitool (global flags, the NATS connection,
// exit statuses); cmd/jwtrevoke adds its commands to the root beside
// internal/serve's and internal/demo's. Each verb runs once per process,
// on the goroutine cobra calls it from, and closes every agent, consumer
// and connection it opened before it returns.
package cli
