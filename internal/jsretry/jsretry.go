// Package jsretry tries again the JetStream API refusals that pass by
// themselves within seconds.
//
// Creating a stream (a revocation stream, a mirror, a snapshot bucket)
// right after one of its name was deleted is refused while the server
// still removes the old store ("error creating store for stream", 10049);
// a cluster that has just formed refuses placements until it counts its
// peers online ("no suitable peers for placement", 10005) and answers
// "JetStream system temporarily unavailable" (10008) until its meta leader
// is in place. A region's leaf node that has just connected carries the
// hub's interest in its JetStream API a moment later, and a request
// through the hub's domain finds "no responders" until then. Left alone,
// each fails a start that a moment later would have worked.
package jsretry

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream API error codes that pass by themselves.
const (
	StoreRace   = 10049 // error creating store for stream
	NoPeers     = 10005 // no suitable peers for placement
	Unavailable = 10008 // JetStream system temporarily unavailable
)

// Within is how long Do tries: the store race and a new cluster's peers
// take a few seconds at most.
const Within = 10 * time.Second

// Transient reports whether code is one Do tries again.
func Transient(code int) bool { return code == StoreRace || code == NoPeers || code == Unavailable }

// Code returns the JetStream API error code in err (from nats.go's
// jetstream package), 0 if none.
func Code(err error) int {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		return int(ae.ErrorCode)
	}
	return 0
}

// Do calls fn until it succeeds, fails with an error whose code (as code
// reads it) is not Transient, Within has passed, or ctx ends; it returns
// fn's last error.
func Do(ctx context.Context, code func(error) int, fn func() error) error {
	start := time.Now()
	for {
		err := fn()
		if err == nil || !Transient(code(err)) || time.Since(start) >= Within {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Linked calls fn until it answers something other than "no responders"
// (a leaf node's link to the hub not up yet), every 100 ms, until ctx ends
// (10 s when ctx has no deadline); it returns fn's last error.
func Linked(ctx context.Context, fn func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, Within)
		defer cancel()
	}
	for {
		err := fn(ctx)
		if !errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
