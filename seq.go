package jwtrevoke

import (
	"fmt"
	"strconv"
)

// SeqHeader carries a revocation's stream sequence from the response that
// made it (a logout) to the requests that follow: a replica that gets a
// request with it waits, briefly, until it has applied that sequence, so
// that the client that logged out never sees its old token work — a
// consistency token, as in Zanzibar. verify.Middleware honours it.
const SeqHeader = "Jwtrevoke-Seq"

// ParseSeq reads a SeqHeader value: a stream sequence, 1 or more.
func ParseSeq(v string) (uint64, error) {
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("jwtrevoke: %s %q is not a stream sequence", SeqHeader, v)
	}
	return seq, nil
}
