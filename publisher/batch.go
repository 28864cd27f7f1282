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
//
// Of opts, Confirm applies (to the batch: it returns once n live agents
// have applied its last event, with every receipt's Confirmed set); a
// revocation's reason and actor are its own fields.
func (p *Publisher) RevokeBatch(ctx context.Context, revs []jwtrevoke.Revocation, opts ...RevokeOption) ([]Receipt, error) {
	var call revokeCall
	call.rev = &jwtrevoke.Revocation{}
	for _, o := range opts {
		o(&call)
	}
	var w *AgentWatch
	var werr error
	if call.confirm > 0 {
		w, werr = p.WatchAgents()
	}
	out, err := p.revokeBatch(ctx, revs, call.header)
	if err != nil || call.confirm == 0 {
		return out, err
	}
	var last uint64
	for _, rc := range out {
		last = max(last, rc.Seq)
	}
	if last == 0 {
		return out, nil
	}
	if werr != nil {
		return out, errors.Join(&ConfirmError{Seq: last, Want: call.confirm, Within: call.within}, werr)
	}
	cctx, cancel := context.WithTimeout(ctx, call.within)
	got, err := w.WaitApplied(cctx, last, call.confirm)
	cancel()
	for i := range out {
		out[i].Confirmed = got
	}
	if err != nil {
		return out, &ConfirmError{Seq: last, Want: call.confirm, Got: got, Within: call.within}
	}
	return out, nil
}

func (p *Publisher) revokeBatch(ctx context.Context, revs []jwtrevoke.Revocation, confirm bool) ([]Receipt, error) {
	out := make([]Receipt, len(revs))
	now := p.cfg.clock()
	p.stats.observeBatch(len(revs))
	var errs []error
	// A sliding window: at most batchWindow publishes in flight, the
	// oldest awaited as soon as the window is full, so the pipeline never
	// drains at a window's edge.
	ring := make([]inflight, batchWindow)
	head, n := 0, 0
	for i := range revs {
		f, ok := p.send(revs[i], i, now, confirm, &errs)
		if !ok {
			continue
		}
		if n == batchWindow {
			if err := p.await(ctx, ring[head], out, &errs); err != nil {
				return out, errors.Join(append(errs, err)...)
			}
			head, n = (head+1)%batchWindow, n-1
		}
		ring[(head+n)%batchWindow] = f
		n++
	}
	for ; n > 0; head, n = (head+1)%batchWindow, n-1 {
		if err := p.await(ctx, ring[head], out, &errs); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
	}
	return out, errors.Join(errs...)
}

// inflight is one event of a batch in flight: its publish future (nil if
// it could not even be queued) and when it was sent.
type inflight struct {
	i       int
	r       jwtrevoke.Revocation
	fut     jetstream.PubAckFuture
	sent    time.Time
	confirm bool // carries jwtrevoke.ConfirmHeader
}

// askReports sets jwtrevoke.ConfirmHeader on the event without waiting
// for the reports: a batch's event written again alone.
func askReports(ask bool) RevokeOption { return func(c *revokeCall) { c.header = ask } }

// send queues revs[i] for asynchronous publishing; an invalid one is an
// error in errs and is not sent (ok false).
func (p *Publisher) send(r jwtrevoke.Revocation, i int, now time.Time, confirm bool, errs *[]error) (inflight, bool) {
	if r.Issued.IsZero() {
		r.Issued = now
	}
	if err := p.validate(r, now); err != nil {
		*errs = append(*errs, fmt.Errorf("revocation %d: %w", i, err))
		return inflight{}, false
	}
	data, err := jwtrevoke.Encode(r, p.cfg.signer)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("revocation %d: %w", i, err))
		return inflight{}, false
	}
	fut, err := p.js.PublishMsgAsync(p.message(jwtrevoke.Subject(p.cfg.prefix, r.Kind, r.Key), r, data, confirm))
	if err != nil {
		fut = nil // not even queued: await retries it
	}
	return inflight{i, r, fut, time.Now(), confirm}, true
}

// await collects one event's ack into out. An ack that never comes (a
// leader lost with the publish in flight) must not hang the batch: past
// the per-attempt timeout from its sending the event takes the careful
// path, whose retries keep its message ID. It returns ctx's error if ctx
// ends.
func (p *Publisher) await(ctx context.Context, f inflight, out []Receipt, errs *[]error) error {
	if f.fut != nil {
		wait := time.NewTimer(max(p.cfg.timeout-time.Since(f.sent), 0))
		defer wait.Stop()
		select {
		case ack := <-f.fut.Ok():
			out[f.i] = Receipt{Revocation: f.r, Seq: ack.Sequence, Duplicate: ack.Duplicate, MsgID: f.fut.Msg().Header.Get(jetstream.MsgIDHeader)}
			p.stats.acked(f.r.Kind, ack.Duplicate)
			return nil
		case <-f.fut.Err():
		case <-wait.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The publish failed or its ack is lost: write it the careful way,
	// as Revoke does (should the first copy have been stored after all, a
	// second one does no harm: agents merge a key's events).
	rc, err := p.Revoke(ctx, f.r, askReports(f.confirm))
	if err != nil {
		*errs = append(*errs, fmt.Errorf("revocation %d (%v %q): %w", f.i, f.r.Kind, f.r.Key, err))
		return nil
	}
	out[f.i] = rc
	return nil
}
