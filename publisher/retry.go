package publisher

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// retry runs fn until it succeeds, returns a permanent error, the attempts
// run out or ctx ends. Each attempt gets its own timeout.
func (p *Publisher) retry(ctx context.Context, fn func(context.Context) error) error {
	wait := 20 * time.Millisecond
	// Failures that come back at once ("no responders" while a cluster
	// elects a stream leader) must not use up the attempts in a moment:
	// keep trying for as long as the attempts could have waited.
	budget := time.Duration(p.cfg.attempts) * p.cfg.timeout
	start := time.Now()
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
		err = fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if !retryable(err) || (attempt >= p.cfg.attempts && time.Since(start) >= budget) || ctx.Err() != nil {
			return err
		}
		p.stats.retries.Add(1)
		p.cfg.log.Warn("revocation publish failed; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

// retryable reports whether err may go away on its own: timeouts, a server
// that is restarting or electing a leader, a connection being re-made.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// JetStream answered: only "not available right now" is worth
		// another try.
		return apiErr.Code == 503 || apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled
	}
	return true
}
