// Package faults is jwtrevoke's fault and hostile-input suite: it runs the
// publisher and agents against real nats-server processes (internal/natsproc)
// and in-process toxiproxy links, injects the faults real deployments meet
// and the input an attacker would send, and checks the project's promise:
// an acknowledged revocation is never lost, and a revoked token never gets
// through.
//
// The package has no API; everything is in its tests. `go test ./...` runs
// a quick version of every case. JWTREVOKE_FULL=1 runs the full counts and
// prints the results table (docs/reliability.md has the table of a real
// run and the exact command):
//
//	JWTREVOKE_FULL=1 go test -count=1 -v -timeout 60m -run . ./internal/faults/
//
// Cases that show a product bug skip with a "BUG:" message;
// JWTREVOKE_BUGS=1 runs them, and they fail.
package faults
