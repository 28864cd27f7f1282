package main

// Scenario 6: revocations per second, one at a time and batched, beside
// raw JetStream publishes of the same encoded events to a plain stream.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// rawStream is the plain stream the raw publishes go to: file storage and
// nothing else (no per-subject limit, no dedup headers, no TTLs).
const rawStream = "RAW"

// stallWait is how long a raw async publish may wait for room in the
// window when acks lag (jetstream's default, 200 ms, fails outright on a
// loaded machine).
const stallWait = 10 * time.Second

// copyStream has the revocation stream's configuration, for the
// diagnostic row.
const copyStream = "REVCOPY"

func runPublish(ctx context.Context, s *scenarioRun) error {
	ns, err := s.startNATS()
	if err != nil {
		return err
	}
	pub, err := newPublisher(ctx, ns)
	if err != nil {
		return err
	}
	nc, err := ns.connect()
	if err != nil {
		return err
	}
	var asyncErrs atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { asyncErrs.Add(1) }))
	if err != nil {
		return err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: rawStream, Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage}); err != nil {
		return err
	}
	// A copy of the revocation stream's configuration under other
	// subjects, for the diagnostic: the same messages and headers as
	// RevokeBatch sends, published raw.
	copyPrefix := "copy.v1"
	if _, err := js.CreateStream(ctx, publisher.StreamConfig(copyStream, copyPrefix, lifetime, time.Minute, 1)); err != nil {
		return err
	}
	g := newKeyGen(s.seedFor("keys"))
	now := time.Now()
	encode := func(revs []jwtrevoke.Revocation) ([]string, [][]byte, error) {
		subjs := make([]string, len(revs))
		data := make([][]byte, len(revs))
		for i, r := range revs {
			d, err := jwtrevoke.Encode(r, nil)
			if err != nil {
				return nil, nil, err
			}
			subjs[i] = "raw" + strings.TrimPrefix(jwtrevoke.Subject("", r.Kind, r.Key), jwtrevoke.DefaultSubjectPrefix)
			data[i] = d
		}
		return subjs, data, nil
	}
	// asPublisher builds the messages RevokeBatch sends for revs: message
	// ID, expected-last-subject-sequence 0 and TTL headers.
	asPublisher := func(revs []jwtrevoke.Revocation) ([]*nats.Msg, error) {
		msgs := make([]*nats.Msg, len(revs))
		for i, r := range revs {
			d, err := jwtrevoke.Encode(r, nil)
			if err != nil {
				return nil, err
			}
			m := nats.NewMsg(jwtrevoke.Subject(copyPrefix, r.Kind, r.Key))
			m.Data = d
			m.Header.Set(jetstream.MsgIDHeader, jwtrevoke.MsgID(d))
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
			ttl := r.Expires.Sub(time.Now()) + jwtrevoke.RetentionMargin
			m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(ttl/time.Second)+1, 10)+"s")
			msgs[i] = m
		}
		return msgs, nil
	}
	makeRevs := func(n, offset int) []jwtrevoke.Revocation {
		revs := make([]jwtrevoke.Revocation, n)
		for i := range revs {
			revs[i] = tokenRevocation(g.next(), offset+i, now)
		}
		return revs
	}

	// One at a time: RevokeJTI, beside a raw synchronous JetStream publish.
	n := s.plan.pubSingle
	revs := makeRevs(n, 0)
	t0 := time.Now()
	for _, r := range revs {
		if _, err := pub.RevokeJTI(ctx, r.Key, r.Expires); err != nil {
			return err
		}
	}
	single := float64(n) / time.Since(t0).Seconds()
	subjs, data, err := encode(makeRevs(n, n))
	if err != nil {
		return err
	}
	t0 = time.Now()
	for i := range subjs {
		if _, err := js.Publish(ctx, subjs[i], data[i]); err != nil {
			return err
		}
	}
	rawSingle := float64(n) / time.Since(t0).Seconds()
	s.log.printf("one at a time: RevokeJTI %s, raw Publish %s", rateText(single), rateText(rawSingle))
	row := Row{
		Figure:     fmt.Sprintf("publish one at a time, %s revocations (RevokeJTI: one guarded publish, ack)", countText(n)),
		Ours:       Value{Value: single, Unit: "revocations/s", Text: rateText(single)},
		Comparison: &Value{Label: "raw JetStream Publish, sync, plain stream", Value: rawSingle, Unit: "msg/s", Text: rateText(rawSingle)},
	}
	row.ratio(single/rawSingle, num(single/rawSingle)+"× raw")
	s.add(row)

	// Batched: RevokeBatch beside raw PublishAsync of the same encoded
	// events, alternating which goes first.
	var ours, raw, diag []float64
	offset := 2 * n
	for rep := range s.plan.pubReps {
		revs := makeRevs(s.plan.pubBatch, offset)
		offset += len(revs)
		subjs, data, err := encode(revs)
		if err != nil {
			return err
		}
		msgs, err := asPublisher(revs)
		if err != nil {
			return err
		}
		waitAsync := func(before int64) error {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(2 * time.Minute):
				return fmt.Errorf("raw async publishes not acknowledged after 2 minutes")
			}
			if e := asyncErrs.Load() - before; e != 0 {
				return fmt.Errorf("%d raw async publishes failed", e)
			}
			return nil
		}
		runDiag := func() error {
			before := asyncErrs.Load()
			t0 := time.Now()
			for _, m := range msgs {
				if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(stallWait)); err != nil {
					return err
				}
			}
			if err := waitAsync(before); err != nil {
				return err
			}
			diag = append(diag, float64(len(msgs))/time.Since(t0).Seconds())
			return nil
		}
		runOurs := func() error {
			t0 := time.Now()
			rcs, err := pub.RevokeBatch(ctx, revs)
			if err != nil {
				return err
			}
			d := time.Since(t0)
			for i, rc := range rcs {
				if rc.Seq == 0 {
					return fmt.Errorf("revocation %d of the batch not acknowledged", i)
				}
			}
			ours = append(ours, float64(len(revs))/d.Seconds())
			return nil
		}
		runRaw := func() error {
			before := asyncErrs.Load()
			t0 := time.Now()
			for i := range subjs {
				if _, err := js.PublishAsync(subjs[i], data[i], jetstream.WithStallWait(stallWait)); err != nil {
					return err
				}
			}
			if err := waitAsync(before); err != nil {
				return err
			}
			raw = append(raw, float64(len(subjs))/time.Since(t0).Seconds())
			return nil
		}
		// Rotate which contender goes first.
		order := []func() error{runOurs, runRaw, runDiag}
		for i := range order {
			if err := order[(i+rep)%len(order)](); err != nil {
				return err
			}
		}
		s.log.printf("batch rep %d: RevokeBatch %s, raw PublishAsync %s, raw with RevokeBatch's headers and stream config %s",
			rep+1, rateText(ours[len(ours)-1]), rateText(raw[len(raw)-1]), rateText(diag[len(diag)-1]))
	}
	// Judged on the median of the per-repetition ratios: each pair ran
	// back to back, so a change in the machine's load hits both.
	mo, mr, md := median(ours), median(raw), median(diag)
	x, xd := medianRatio(ours, raw), medianRatio(ours, diag)
	row = Row{
		Figure:     fmt.Sprintf("publish batched, %s revocations per batch (RevokeBatch), median of %d", countText(s.plan.pubBatch), len(ours)),
		Ours:       Value{Value: mo, Unit: "revocations/s", Text: rateText(mo), Detail: repsRate(ours)},
		Comparison: &Value{Label: "raw JetStream PublishAsync, same encoded events, plain stream", Value: mr, Unit: "msg/s", Text: rateText(mr), Detail: repsRate(raw)},
	}
	row.ratio(x, num(x)+"× raw (median of per-repetition ratios)")
	row.judge("≥ 0.8× raw", x >= 0.8)
	s.add(row)
	row = Row{
		Figure:     "publish batched, diagnostic: where the gap to raw is",
		Ours:       Value{Value: mo, Unit: "revocations/s", Text: "RevokeBatch " + rateText(mo)},
		Comparison: &Value{Label: "raw PublishAsync of RevokeBatch's messages (same headers) into a stream with the revocation config", Value: md, Unit: "msg/s", Text: rateText(md), Detail: repsRate(diag)},
	}
	row.ratio(xd, num(xd)+"× that")
	s.add(row)
	s.note("the revocation stream is the publisher's own (file storage, one event per key, dedup window, per-message TTL); RevokeBatch publishes asynchronously in windows (2,048 at this writing), waits for each window's acks before the next, and sets a message ID, an expected-last-subject-sequence guard and a TTL on each event; the raw stream %q is file storage with defaults, and raw PublishAsync uses jetstream's default async window; contenders rotate which goes first; %d repetitions of %s events each", rawStream, s.plan.pubReps, countText(s.plan.pubBatch))
	return nil
}

func repsRate(v []float64) map[string]float64 {
	d := map[string]float64{}
	for i, x := range v {
		d[fmt.Sprintf("rep%d_per_s", i+1)] = x
	}
	return d
}
