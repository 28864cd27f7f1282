package serve

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// TestReadAdminRevoke: the body of POST /admin/revoke is read into a
// revocation, or refused with what is wrong, before anything is published.
func TestReadAdminRevoke(t *testing.T) {
	for i, tc := range []struct {
		body    string
		want    adminRevocation
		wantErr string
	}{
		{`{"kind":"sub","key":"alice","reason":"password change"}`, adminRevocation{kind: jwtrevoke.KindSubject, key: "alice", reason: "password change", actor: "admin-api"}, ""},
		{`{"kind":"subject","key":"alice","actor":"ops"}`, adminRevocation{kind: jwtrevoke.KindSubject, key: "alice", actor: "ops"}, ""},
		{`{"kind":"all","before":1767225600}`, adminRevocation{kind: jwtrevoke.KindAll, before: time.Unix(1767225600, 0), actor: "admin-api"}, ""},
		{`{"kind":"jti","key":"j","exp":"2026-01-01T00:00:00Z"}`, adminRevocation{kind: jwtrevoke.KindToken, key: "j", exp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), actor: "admin-api"}, ""},
		{`{"kind":"nope","key":"x"}`, adminRevocation{}, "kind must be one of"},
		{`{"kind":"sub"}`, adminRevocation{}, "key is required for kind sub"},
		{`{"kind":"all","key":"x"}`, adminRevocation{}, "kind all takes no key"},
		{`{"kind":"kid","key":"k","before":"2026-01-01T00:00:00Z"}`, adminRevocation{}, "before applies to sub, sid and all"},
		{`{"kind":"sid","key":"s","exp":"2026-01-01T00:00:00Z"}`, adminRevocation{}, "exp applies to jti only"},
		{`{"kind":"sub","key":"a","before":"yesterday"}`, adminRevocation{}, "before: want an RFC 3339 time"},
		{`{"kind":"sub","key":"a","extra":1}`, adminRevocation{}, "unknown field"},
		{`{"kind":"sub","key":"a"} {}`, adminRevocation{}, "one JSON object"},
		{`[1]`, adminRevocation{}, "one JSON object"},
	} {
		got, err := readAdminRevoke(httptest.NewRecorder(), httptest.NewRequest("POST", "/admin/revoke", strings.NewReader(tc.body)))
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("step %d: readAdminRevoke(%s) = %+v, %v; want an error ~%q", i, tc.body, got, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got.kind != tc.want.kind || got.key != tc.want.key || !got.before.Equal(tc.want.before) ||
			!got.exp.Equal(tc.want.exp) || got.reason != tc.want.reason || got.actor != tc.want.actor):
			t.Errorf("step %d: readAdminRevoke(%s) = %+v, %v; want %+v", i, tc.body, got, err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for i, tc := range []struct {
		raw  string
		want time.Time
		ok   bool
	}{
		{``, time.Time{}, true},
		{`null`, time.Time{}, true},
		{`""`, time.Time{}, true},
		{`"2026-01-02T15:04:05.5Z"`, time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC), true},
		{`1767225600.25`, time.Unix(1767225600, 25e7), true},
		{`"soon"`, time.Time{}, false},
		{`0`, time.Time{}, false},
		{`1e12`, time.Time{}, false}, // milliseconds, not seconds
		{`true`, time.Time{}, false},
	} {
		got, err := parseTime(json.RawMessage(tc.raw))
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("step %d: parseTime(%s) = %v, %v; want %v, ok %v", i, tc.raw, got, err, tc.want, tc.ok)
		}
	}
}

func TestEventsQuery(t *testing.T) {
	for i, tc := range []struct {
		query      string
		limit      int
		kindFilter string
		ok         bool
	}{
		{"", eventsDefault, "", true},
		{"?limit=2&kind=subject", 2, ".sub.", true},
		{"?kind=jti", eventsDefault, ".jti.", true},
		{"?limit=0", 0, "", false},
		{"?limit=1001", 0, "", false},
		{"?kind=nope", 0, "", false},
	} {
		limit, kind, err := eventsQuery(httptest.NewRequest("GET", "/admin/events"+tc.query, nil))
		if (err == nil) != tc.ok || limit != tc.limit || kind != tc.kindFilter {
			t.Errorf("step %d: eventsQuery(%q) = %d, %q, %v; want %d, %q, ok %v", i, tc.query, limit, kind, err, tc.limit, tc.kindFilter, tc.ok)
		}
	}
}
