package publisher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
)

// batchWindow is how many publishes a batch keeps in flight.
const batchWindow = 2048

// RevokeBatch writes many revocations (mass revocation, incident response)
// with acknowledgements pipelined, and returns once every one is
// acknowledged. Receipts are in the order of revs. Events are written as
// they are, without reading the keys' earlier events (the stream keeps
// those, and agents merge them); one whose publish fails or whose ack does
// not come in time is written again like Revoke does. On error, the receipts of the events that
// were acknowledged are still returned (Seq 0 marks the others), and a
// retry of the whole batch is safe.
func (p *Publisher) RevokeBatch(ctx context.Context, revs []jwtrevoke.Revocation) ([]Receipt, error) {
	out := make([]Receipt, len(revs))
	now := p.cfg.clock()
	p.stats.observeBatch(len(revs))
	type inflight struct {
		i    int
		subj string
		r    jwtrevoke.Revocation
		fut  jetstream.PubAckFuture
	}
	var errs []error
	for start := 0; start < len(revs); start += batchWindow {
		end := min(start+batchWindow, len(revs))
		var window []inflight
		for i := start; i < end; i++ {
			r := revs[i]
			if r.Issued.IsZero() {
				r.Issued = now
			}
			if err := p.validate(r, now); err != nil {
				errs = append(errs, fmt.Errorf("revocation %d: %w", i, err))
				continue
			}
			subj := jwtrevoke.Subject(p.cfg.prefix, r.Kind, r.Key)
			data, err := jwtrevoke.Encode(r, p.cfg.signer)
			if err != nil {
				errs = append(errs, fmt.Errorf("revocation %d: %w", i, err))
				continue
			}
			msg := p.message(subj, r, data)
			fut, err := p.js.PublishMsgAsync(msg)
			if err != nil {
				// Not even queued: the slow path below retries it.
				window = append(window, inflight{i: i, subj: subj, r: r})
				continue
			}
			window = append(window, inflight{i, subj, r, fut})
		}
		// An ack that never comes (a leader lost with the publish in
		// flight) must not hang the batch: past the per-attempt timeout the
		// event takes the careful path, whose retries keep its message ID.
		deadline := time.NewTimer(p.cfg.timeout)
		for _, f := range window {
			if f.fut != nil {
				select {
				case ack := <-f.fut.Ok():
					out[f.i] = Receipt{Revocation: f.r, Seq: ack.Sequence, Duplicate: ack.Duplicate, MsgID: f.fut.Msg().Header.Get(jetstream.MsgIDHeader)}
					p.stats.acked(f.r.Kind, ack.Duplicate)
					continue
				case <-f.fut.Err():
				case <-deadline.C:
					// Expired: every later wait in this window falls
					// through at once too.
					deadline.Reset(0)
				case <-ctx.Done():
					deadline.Stop()
					return out, errors.Join(append(errs, ctx.Err())...)
				}
			}
			// The publish failed or its ack is lost: write it the
			// careful way, as Revoke does (should the first copy have
			// been stored after all, a second one does no harm: agents
			// merge a key's events).
			rc, err := p.Revoke(ctx, f.r)
			if err != nil {
				errs = append(errs, fmt.Errorf("revocation %d (%v %q): %w", f.i, f.r.Kind, f.r.Key, err))
				continue
			}
			out[f.i] = rc
		}
		deadline.Stop()
	}
	return out, errors.Join(errs...)
}
