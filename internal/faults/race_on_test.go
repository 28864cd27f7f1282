//go:build race

package faults

// raceEnabled: the test binary runs under the race detector, which slows
// ed25519 about sevenfold; the bogus-entry flood is cut to fit.
const raceEnabled = true
