package main

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// logoutConfirmed revokes a session and returns once 3 replicas have
// applied it, or says how many had within 2 s.
func logoutConfirmed(ctx context.Context, pub *publisher.Publisher, sid string) error {
	rc, err := pub.RevokeSession(ctx, sid, time.Time{}, publisher.Confirm(3, 2*time.Second))
	var ce *publisher.ConfirmError
	switch {
	case errors.As(err, &ce): // stored; the slower replicas catch up
		log.Printf("stored at %d, applied by %d of 3 replicas within 2s", ce.Seq, ce.Got)
		return nil
	case err != nil: // not stored: retry
		return err
	}
	log.Printf("refused on %d replicas now", rc.Confirmed)
	return nil
}
