package cli

// One event as watch prints it: decoded as an agent decodes it, with what
// an agent would do with it.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
)

// Statuses of a watched event.
const (
	watchOK        = "ok"
	watchExpired   = "expired"
	watchMalformed = "malformed"
	watchUntrusted = "untrusted"
)

// watchEvent is one line of watch output.
type watchEvent struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"` // when the server stored it
	Subject string    `json:"subject"`
	Size    int       `json:"size"`
	Status  string    `json:"status"`
	Error   string    `json:"error,omitempty"`
	*revocation
	Signed  string   `json:"signed_by,omitempty"`
	LagMS   *float64 `json:"lag_ms,omitempty"`
	Warning string   `json:"warning,omitempty"`
}

// newWatchEvent decodes one message as an agent would at now.
func newWatchEvent(m jetstream.Msg, dec *jwtrevoke.Decoder, now time.Time) watchEvent {
	ev := watchEvent{Subject: m.Subject(), Size: len(m.Data())}
	if meta, err := m.Metadata(); err == nil {
		ev.Seq, ev.Time = meta.Sequence.Stream, meta.Timestamp.UTC()
	}
	r, kid, err := dec.DecodeSigned(m.Data(), now)
	switch {
	case err == nil:
		ev.Status = watchOK
		lag := millis(now.Sub(r.Issued))
		ev.LagMS = &lag
	case errors.Is(err, jwtrevoke.ErrExpired):
		ev.Status = watchExpired
		// Show what it was: decode it as of the time it was stored.
		if !ev.Time.IsZero() {
			r, kid, err = dec.DecodeSigned(m.Data(), ev.Time)
		}
		if err != nil {
			err = nil
			r = jwtrevoke.Revocation{}
		}
	case errors.Is(err, jwtrevoke.ErrUnsigned), errors.Is(err, jwtrevoke.ErrUnknownKeyID), errors.Is(err, jwtrevoke.ErrBadSignature):
		ev.Status, ev.Error = watchUntrusted, err.Error()
	default:
		ev.Status, ev.Error = watchMalformed, err.Error()
	}
	if err == nil && r.Kind.Valid() {
		rj := newRevocation(r)
		ev.revocation, ev.Signed = &rj, kid
		// Agents apply an event whatever its subject, but settle "unknown"
		// verdicts by the subject: a hand-made event on the wrong one
		// would not be found.
		if want := "." + r.Kind.String() + "." + jwtrevoke.KeyToken(r.Key); !strings.HasSuffix(ev.Subject, want) {
			ev.Warning = "the subject does not match the event's kind and key: want …" + want
		}
	}
	return ev
}

// writeText prints the event as one line.
func (ev watchEvent) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  #%d  ", stampMilli(ev.Time), ev.Seq)
	if ev.Status != watchOK {
		b.WriteString(strings.ToUpper(ev.Status) + "  ")
	}
	if r := ev.revocation; r != nil {
		key := strconv.Quote(r.Key)
		if r.Kind == jwtrevoke.KindAll {
			key = "-"
		}
		fmt.Fprintf(&b, "%s  %s  before=%s  expires=%s", r.Kind, key, stamp(r.Before), stamp(r.Expires))
		if r.Reason != "" {
			fmt.Fprintf(&b, "  reason=%q", r.Reason)
		}
		if r.Actor != "" {
			fmt.Fprintf(&b, "  actor=%q", r.Actor)
		}
		if ev.Signed != "" {
			fmt.Fprintf(&b, "  signed_by=%q", ev.Signed)
		}
	} else {
		fmt.Fprintf(&b, "subject=%s  size=%d", ev.Subject, ev.Size)
	}
	if ev.LagMS != nil {
		fmt.Fprintf(&b, "  lag=%s", round(time.Duration(*ev.LagMS*float64(time.Millisecond))))
	}
	if ev.Error != "" {
		fmt.Fprintf(&b, "  error=%q", ev.Error)
	}
	if ev.Warning != "" {
		fmt.Fprintf(&b, "  warning=%q", ev.Warning)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
