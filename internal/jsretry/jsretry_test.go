package jsretry

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func apiErr(code int) error {
	return fmt.Errorf("creating: %w", &jetstream.APIError{Code: 500, ErrorCode: jetstream.ErrorCode(code), Description: "test"})
}

func TestDo(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		errs  []error // what fn returns, call by call
		calls int
		fails bool // Do returns an error
		code  int  // its code
	}{
		{"passes after the store race", []error{apiErr(StoreRace), apiErr(StoreRace), nil}, 3, false, 0},
		{"passes after peers come online", []error{apiErr(NoPeers), apiErr(Unavailable), nil}, 3, false, 0},
		{"another refusal stands at once", []error{apiErr(10058), nil}, 1, true, 10058},
		{"an error without a code stands", []error{errors.New("no"), nil}, 1, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Do(ctx, Code, func() error {
				calls++
				return tc.errs[calls-1]
			})
			if calls != tc.calls || (err != nil) != tc.fails || Code(err) != tc.code {
				t.Fatalf("Do: %d calls, %v; want %d calls, failing %v with code %d", calls, err, tc.calls, tc.fails, tc.code)
			}
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	calls := 0
	if err := Do(ctx, Code, func() error { calls++; return apiErr(StoreRace) }); Code(err) != StoreRace || calls != 1 {
		t.Fatalf("Do with its context ended: %d calls, %v; want one call and its error", calls, err)
	}
}
