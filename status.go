package jwtrevoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StatusSubjectRoot is the first token of the subjects agents report
// their status on: StatusSubjectRoot.<stream>.<agent>. It is outside the
// revocation subjects (jwtrevoke.v1.>), so that a user may publish status
// and no revocation at all, and no stream captures it.
const StatusSubjectRoot = "jwtrevoke_status"

// ConfirmHeader is the header a publisher sets (to "1") on a revocation
// event it waits for the agents to confirm (publisher.Confirm): an agent
// that applies such an event reports its status at once, as soon as it has
// caught up. Other events are reported only at the next regular report
// (AgentStatus.IntervalMS), so that a stream followed by hundreds of
// agents costs the servers no report per agent per event when nobody is
// waiting for one.
const ConfirmHeader = "Jwtrevoke-Confirm"

// MaxStatusBytes bounds a status report.
const MaxStatusBytes = 1 << 10

// ErrBadStatus is returned by DecodeStatus for a report that is not one.
var ErrBadStatus = errors.New("jwtrevoke: bad status report")

// AgentStatus is an agent's report of what it has applied, published (as
// JSON, core NATS, no JetStream) on StatusSubject(stream, Agent) after it
// applies an event that carries ConfirmHeader and every IntervalMS
// besides. Publishers count the
// reports to confirm a revocation reached n agents; `jwtrevoke status`
// lists them. docs/wire-format.md §12 describes it for other languages.
type AgentStatus struct {
	// Agent is the reporting agent's ID, unique per agent instance: a
	// subject token (letters, digits, '-' and '_'), at most 64 bytes.
	Agent string `json:"agent"`
	// Name is what the operator calls the replica (a pod or host name).
	Name string `json:"name,omitempty"`
	// Stream is the revocation stream the agent follows.
	Stream string `json:"stream"`
	// Applied is the last stream sequence the agent has applied: every
	// revocation at or before it is refused by its checks.
	Applied uint64 `json:"applied"`
	// Ready and Stale are the agent's Health.
	Ready       bool  `json:"ready"`
	Stale       bool  `json:"stale"`
	StalenessMS int64 `json:"staleness_ms"`
	// At is when the report was made, on the agent's clock.
	At time.Time `json:"at"`
	// IntervalMS is the longest the agent waits between reports: one not
	// heard from for a few intervals is gone.
	IntervalMS int64 `json:"interval_ms"`
}

// StatusSubject is the subject agent reports on for stream.
func StatusSubject(stream, agent string) string {
	return StatusSubjectRoot + "." + stream + "." + agent
}

// StatusSubjects is the subject of every agent's reports for stream, to
// subscribe to.
func StatusSubjects(stream string) string { return StatusSubjectRoot + "." + stream + ".*" }

// ValidAgentID reports whether id can be an agent's ID.
func ValidAgentID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// DecodeStatus reads a report received on subject, refusing one that is
// too large, not JSON, or whose agent or stream is not its subject's.
func DecodeStatus(subject string, data []byte) (AgentStatus, error) {
	var s AgentStatus
	if len(data) > MaxStatusBytes {
		return s, fmt.Errorf("%w: %d bytes", ErrBadStatus, len(data))
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrBadStatus, err)
	}
	if !ValidAgentID(s.Agent) || subject != StatusSubject(s.Stream, s.Agent) || strings.ContainsAny(s.Stream, ".*> ") {
		return s, fmt.Errorf("%w: agent %q of stream %q on subject %q", ErrBadStatus, s.Agent, s.Stream, subject)
	}
	if s.IntervalMS <= 0 {
		return s, fmt.Errorf("%w: interval %d ms", ErrBadStatus, s.IntervalMS)
	}
	return s, nil
}
