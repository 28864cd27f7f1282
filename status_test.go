package jwtrevoke_test

import (
	"strings"
	"testing"

	"github.com/jwtrevoke/jwtrevoke"
)

// TestDecodeStatus: a report is taken only from its own subject, with a
// valid agent ID, a stream, a positive interval, and at most
// MaxStatusBytes; everything else is refused with ErrBadStatus.
func TestDecodeStatus(t *testing.T) {
	good := `{"agent":"a1","stream":"JWTREVOKE","applied":7,"ready":true,"interval_ms":1000}`
	subj := jwtrevoke.StatusSubject("JWTREVOKE", "a1")
	if subj != "jwtrevoke_status.JWTREVOKE.a1" {
		t.Fatalf("StatusSubject = %q", subj)
	}
	st, err := jwtrevoke.DecodeStatus(subj, []byte(good))
	if err != nil || st.Applied != 7 || st.Agent != "a1" {
		t.Fatalf("a good report: %+v, %v", st, err)
	}
	for name, tc := range map[string]struct{ subj, data string }{
		"another agent's subject":  {jwtrevoke.StatusSubject("JWTREVOKE", "a2"), good},
		"another stream's subject": {jwtrevoke.StatusSubject("OTHER", "a1"), good},
		"not JSON":                 {subj, "applied=7"},
		"no interval":              {subj, `{"agent":"a1","stream":"JWTREVOKE","applied":7}`},
		"an ID with a dot":         {jwtrevoke.StatusSubject("JWTREVOKE", "a.1"), `{"agent":"a.1","stream":"JWTREVOKE","interval_ms":1000}`},
		"a wildcard stream":        {"jwtrevoke_status.*.a1", `{"agent":"a1","stream":"*","interval_ms":1000}`},
		"applied not a number":     {subj, `{"agent":"a1","stream":"JWTREVOKE","applied":"7","interval_ms":1000}`},
		"too large":                {subj, `{"agent":"a1","stream":"JWTREVOKE","interval_ms":1000,"name":"` + strings.Repeat("x", jwtrevoke.MaxStatusBytes) + `"}`},
	} {
		if _, err := jwtrevoke.DecodeStatus(tc.subj, []byte(tc.data)); err == nil {
			t.Errorf("%s: taken, want ErrBadStatus", name)
		}
	}
}
