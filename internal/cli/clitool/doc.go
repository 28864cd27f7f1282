// Package clitool is the plumbing every verb of the jwtrevoke command
// shares: the global flags and the NATS connection they make, the stream
// contract the verbs follow, the exit statuses and usage errors, the
// embedded NATS server of serve and demo with the lock on its store, and
// the keyring that verifies JWTs for serve, check and revoke token.
//
// It is the bottom layer of the command: internal/serve, internal/demo and
// internal/cli build on it, cmd/jwtrevoke wires them into one root
// command, and clitool imports none of them.
//
// Globals is filled in by flag parsing and then only read: once a verb
// runs, its methods are safe for use by multiple goroutines. A Keyring is
// safe for use by multiple goroutines once built.
package clitool
