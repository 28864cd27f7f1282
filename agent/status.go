package agent

import (
	"encoding/json"
	"os"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// ID is the agent's ID in its status reports (jwtrevoke.AgentStatus).
func (a *Agent) ID() string { return a.id }

// Status is the report the agent would send now.
func (a *Agent) Status() jwtrevoke.AgentStatus {
	h := a.Health()
	name := a.cfg.name
	if name == "" {
		name, _ = os.Hostname()
	}
	return jwtrevoke.AgentStatus{
		Agent: a.id, Name: name, Stream: a.cfg.stream, Applied: h.LastApplied,
		Ready: h.Ready, Stale: h.Stale, StalenessMS: h.Staleness.Milliseconds(),
		At: a.cfg.clock(), IntervalMS: a.cfg.statusEvery.Milliseconds(),
	}
}

// reportLoop publishes a status report after events are applied (at most
// one in flight: reports coalesce) and every statusEvery besides.
func (a *Agent) reportLoop() {
	defer a.wg.Done()
	nc := a.js.Conn()
	subject := jwtrevoke.StatusSubject(a.cfg.stream, a.id)
	t := time.NewTicker(a.cfg.statusEvery)
	defer t.Stop()
	var sent uint64
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.report:
			if a.applied.Load() == sent {
				continue
			}
		case <-t.C:
		}
		st := a.Status()
		b, err := json.Marshal(st)
		if err == nil {
			err = nc.Publish(subject, b)
		}
		if err != nil {
			a.stats.statusErrors.Add(1)
			continue
		}
		sent = st.Applied
	}
}
