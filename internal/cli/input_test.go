package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestCLIParseCutoff(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 500, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"", now, ""},
		{"now", now, ""},
		{"2026-01-15T09:59:58.123456789Z", time.Date(2026, 1, 15, 9, 59, 58, 123456789, time.UTC), ""},
		{"2026-01-15T11:00:30+01:00", time.Date(2026, 1, 15, 10, 0, 30, 0, time.UTC), ""}, // within the minute of tolerance
		{"2026-01-15T10:05:00Z", time.Time{}, "in the future"},
		{"2026-01-14T09:00:00Z", time.Time{}, "expired already"},
		{"2026-01-15 10:00:00", time.Time{}, "RFC 3339"},
		{"-5m", time.Time{}, "RFC 3339"},
	}
	for i, tc := range tests {
		got, err := parseCutoff(tc.in, now, 24*time.Hour)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) || !got.Equal(tc.want) {
			t.Errorf("step %d: parseCutoff(%q) = %v, %v; want %v, error ~%q", i, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCLIParseExpiry(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"15m", now.Add(15 * time.Minute), true},
		{"-1h", now.Add(-time.Hour), true}, // already expired: the publisher says so
		{"2026-01-15T10:15:00Z", now.Add(15 * time.Minute), true},
		{"1768472100", time.Unix(1768472100, 0), true},
		{"soon", time.Time{}, false},
		{"0", now, true}, // a zero duration: expired now, nothing to revoke
		{"-17", time.Time{}, false},
	}
	for i, tc := range tests {
		got, err := parseExpiry(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("step %d: parseExpiry(%q) = %v, %v; want %v, ok %v", i, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCLIParseSince(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want watchStart
		ok   bool
	}{
		{"42", watchStart{seq: 42}, true},
		{"10m", watchStart{time: now.Add(-10 * time.Minute)}, true},
		{"2026-01-15T09:00:00Z", watchStart{time: now.Add(-time.Hour)}, true},
		{"0", watchStart{}, false},
		{"-10m", watchStart{}, false},
		{"yesterday", watchStart{}, false},
	}
	for i, tc := range tests {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || got.seq != tc.want.seq || !got.time.Equal(tc.want.time) {
			t.Errorf("step %d: parseSince(%q) = %+v, %v; want %+v, ok %v", i, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCLIReadToken(t *testing.T) {
	tests := []struct {
		arg, stdin, want string
	}{
		{"a.b.c", "", "a.b.c"},
		{"  Bearer a.b.c \n", "", "a.b.c"},
		{"-", "a.b.c\n", "a.b.c"},
		{"-", "bearer a.b.c", "a.b.c"},
		{"-", "", ""},
	}
	for i, tc := range tests {
		cmd := &cobra.Command{}
		cmd.SetIn(strings.NewReader(tc.stdin))
		got, err := readToken(cmd, tc.arg)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("step %d: readToken(%q, stdin %q) = %q, %v; want %q", i, tc.arg, tc.stdin, got, err, tc.want)
		}
	}
}
