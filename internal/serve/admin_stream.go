package serve

// The admin API's reads of the stream: GET /admin/live, what is revoked
// now, and GET /admin/events, the latest events, decoded.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
)

// liveReport is the answer of GET /admin/live.
type liveReport struct {
	Ready          bool             `json:"ready"`
	StaleSeconds   float64          `json:"stale_seconds"`
	LastAppliedSeq uint64           `json:"last_applied_seq"`
	Live           map[string]int64 `json:"live"`
	Total          int64            `json:"total"`
	Filter         struct {
		Bytes         int64  `json:"bytes"`
		BudgetBytes   int64  `json:"budget_bytes"`
		ExactEntries  int    `json:"exact_entries"`
		ExactCapacity int    `json:"exact_capacity"`
		Evictions     uint64 `json:"evictions"`
	} `json:"filter"`
	Stream struct {
		Name      string    `json:"name"`
		Messages  uint64    `json:"messages"`
		Bytes     uint64    `json:"bytes"`
		FirstSeq  uint64    `json:"first_seq"`
		LastSeq   uint64    `json:"last_seq"`
		FirstTime time.Time `json:"first_time"`
		LastTime  time.Time `json:"last_time"`
		Subjects  uint64    `json:"subjects"`
	} `json:"stream"`
	Note string `json:"note"`
}

func (s *service) handleAdminLive(w http.ResponseWriter, r *http.Request) {
	st := s.agent.Stats()
	var out liveReport
	out.Ready, out.StaleSeconds, out.LastAppliedSeq = st.Ready, max(st.Staleness.Seconds(), 0), st.LastApplied
	out.Live = map[string]int64{}
	for _, k := range st.Filter.Kinds {
		out.Live[k.Kind.String()] = k.Entries
		out.Total += k.Entries
	}
	out.Filter.Bytes, out.Filter.BudgetBytes = st.Filter.Bytes, st.Filter.Budget
	out.Filter.ExactEntries, out.Filter.ExactCapacity, out.Filter.Evictions = st.Filter.ExactEntries, st.Filter.ExactCapacity, st.Filter.Evictions
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream's state: "+err.Error())
		return
	}
	out.Stream.Name = info.Config.Name
	out.Stream.Messages, out.Stream.Bytes = info.State.Msgs, info.State.Bytes
	out.Stream.FirstSeq, out.Stream.LastSeq = info.State.FirstSeq, info.State.LastSeq
	out.Stream.FirstTime, out.Stream.LastTime = info.State.FirstTime, info.State.LastTime
	out.Stream.Subjects = info.State.NumSubjects
	out.Note = "live counts come from the agent's filter, which holds hashes of keys, not keys; it may count entries " +
		"that expired but whose generation is not yet dropped. GET /admin/events lists the keys, from the stream."
	httpjson.Write(w, http.StatusOK, out)
}

// event is one event in GET /admin/events.
type event struct {
	Seq     uint64     `json:"seq"`
	Kind    string     `json:"kind,omitempty"`
	Key     string     `json:"key,omitempty"`
	Before  *time.Time `json:"before,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Issued  *time.Time `json:"issued,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Actor   string     `json:"actor,omitempty"`
	Live    bool       `json:"live"`
	Stored  time.Time  `json:"stored"`
	Subject string     `json:"subject"`
	Error   string     `json:"error,omitempty"` // an event that does not decode
}

// Limits of GET /admin/events.
const (
	eventsDefault = 50
	eventsMax     = 1000
	eventsScan    = 20000 // stream sequences read at most per request
)

// handleAdminEvents lists the latest events on the stream, newest first:
// GET /admin/events?limit=N&kind=K (N default 50, at most 1000; kind
// optional). It reads backwards from the last sequence, skipping the gaps
// that per-key replacement and expiry leave, and stops after reading
// eventsScan sequences.
func (s *service) handleAdminEvents(w http.ResponseWriter, r *http.Request) {
	limit, kindFilter, err := eventsQuery(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream's state: "+err.Error())
		return
	}
	events, scanned, err := s.latestEvents(ctx, info.State, limit, kindFilter)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream: "+err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"events":   events,
		"count":    len(events),
		"last_seq": info.State.LastSeq,
		"complete": len(events) == limit || scanned < eventsScan,
	})
}

// eventsQuery reads GET /admin/events' limit and kind; the kind as the
// part of a subject that names it (".sub."), "" for every kind.
func eventsQuery(r *http.Request) (limit int, kindFilter string, _ error) {
	limit = eventsDefault
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > eventsMax {
			return 0, "", fmt.Errorf("limit must be 1 to %d", eventsMax)
		}
		limit = n
	}
	if v := r.URL.Query().Get("kind"); v != "" {
		k, err := jwtrevoke.ParseKind(v)
		if err != nil {
			return 0, "", errors.New("kind must be one of sub, sid, kid, all, jti")
		}
		kindFilter = "." + k.String() + "."
	}
	return limit, kindFilter, nil
}

// latestEvents reads up to limit events of the stream in state, from the
// last back, on subjects containing kindFilter; it reads at most
// eventsScan sequences, and says how many it read.
func (s *service) latestEvents(ctx context.Context, state jetstream.StreamState, limit int, kindFilter string) (events []event, scanned int, _ error) {
	now := s.now()
	dec := s.contract.Decoder(nil)
	events = []event{}
	for seq := state.LastSeq; seq >= max(state.FirstSeq, 1) && len(events) < limit && scanned < eventsScan; seq-- {
		scanned++
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // replaced by a later event of its key, or expired
		}
		if err != nil {
			return nil, scanned, err
		}
		if kindFilter != "" && !strings.Contains(m.Subject, kindFilter) {
			continue
		}
		events = append(events, newEvent(m, &dec, now))
	}
	return events, scanned, nil
}

// newEvent decodes m as of when it was stored, so an event that has
// expired since still shows what it was; Live says whether it still is.
func newEvent(m *jetstream.RawStreamMsg, dec *jwtrevoke.Decoder, now time.Time) event {
	ev := event{Seq: m.Sequence, Stored: m.Time, Subject: m.Subject}
	rev, err := dec.Decode(m.Data, m.Time)
	if err != nil {
		ev.Error = err.Error()
		return ev
	}
	b, e, i := rev.Before, rev.Expires, rev.Issued
	ev.Kind, ev.Key, ev.Before, ev.Expires, ev.Issued = rev.Kind.String(), rev.Key, &b, &e, &i
	ev.Reason, ev.Actor, ev.Live = rev.Reason, rev.Actor, rev.Expires.After(now)
	return ev
}
