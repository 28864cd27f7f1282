package publisher_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// An event agents would refuse as too far ahead must not be acknowledged:
// the caller would believe in a revocation nobody honours.
func TestRevokeRefusesExpiryBeyondLifetime(t *testing.T) {
	p := testkit.NewPublisher(t, serverConn(t)) // max token lifetime: one hour, leeway one minute
	ctx := context.Background()
	now := time.Now()
	tests := []struct {
		name string
		call func() (publisher.Receipt, error)
		want error
	}{
		{"jti, exp at the max lifetime", func() (publisher.Receipt, error) { return p.RevokeJTI(ctx, "ok", now.Add(lifetime)) }, nil},
		{"jti, exp past the max lifetime", func() (publisher.Receipt, error) { return p.RevokeJTI(ctx, "far", now.Add(2*lifetime)) }, jwtrevoke.ErrTooFarAhead},
		{"subject, cut-off a minute ahead", func() (publisher.Receipt, error) { return p.RevokeSubject(ctx, "alice", now.Add(time.Minute)) }, nil},
		{"subject, cut-off an hour ahead", func() (publisher.Receipt, error) { return p.RevokeSubject(ctx, "bob", now.Add(time.Hour)) }, jwtrevoke.ErrTooFarAhead},
		{"batch, one too far", func() (publisher.Receipt, error) {
			_, err := p.RevokeBatch(ctx, []jwtrevoke.Revocation{{Kind: jwtrevoke.KindToken, Key: "b", Before: now, Expires: now.Add(3 * lifetime)}})
			return publisher.Receipt{}, err
		}, jwtrevoke.ErrTooFarAhead},
	}
	for _, tt := range tests {
		_, err := tt.call()
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
}
