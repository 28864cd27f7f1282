package jwtrevoke

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestKeyToken(t *testing.T) {
	tests := []struct{ key, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb924"},
		{"user-42", "6d894aa3ee802549d7f340e7c1cf0d1c"},
	}
	for _, tt := range tests {
		if got := KeyToken(tt.key); got != tt.want {
			t.Errorf("KeyToken(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		prefix string
		kind   Kind
		key    string
		want   string
	}{
		{"", KindSubject, "user-42", "jwtrevoke.v1.sub.6d894aa3ee802549d7f340e7c1cf0d1c"},
		{"acme.revoke", KindSubject, "user-42", "acme.revoke.sub.6d894aa3ee802549d7f340e7c1cf0d1c"},
		{"", KindAll, "", "jwtrevoke.v1.all.e3b0c44298fc1c149afbf4c8996fb924"},
		{"", KindToken, "x", "jwtrevoke.v1.jti." + KeyToken("x")},
		{"", KindSession, "x", "jwtrevoke.v1.sid." + KeyToken("x")},
		{"", KindKey, "x", "jwtrevoke.v1.kid." + KeyToken("x")},
	}
	for _, tt := range tests {
		if got := Subject(tt.prefix, tt.kind, tt.key); got != tt.want {
			t.Errorf("Subject(%q, %v, %q) = %q, want %q", tt.prefix, tt.kind, tt.key, got, tt.want)
		}
	}
	// Subject syntax in a key never reaches the subject.
	got := Subject("", KindSession, "a.*.> b")
	if tail := strings.TrimPrefix(got, "jwtrevoke.v1.sid."); strings.ContainsAny(tail, ".*> ") || len(tail) != 32 {
		t.Errorf("Subject(\"\", sid, %q) = %q, want a 32-hex-digit last token", "a.*.> b", got)
	}
}

func TestSubjectFilter(t *testing.T) {
	for prefix, want := range map[string]string{"": "jwtrevoke.v1.>", "acme.revoke": "acme.revoke.>"} {
		if got := SubjectFilter(prefix); got != want {
			t.Errorf("SubjectFilter(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestMsgID(t *testing.T) {
	r := sampleRevocation()
	s0, s1 := testSigner(t, 0), testSigner(t, 1)
	body := mustEncode(t, r, nil)
	id := MsgID(body)
	if len(id) != 36 || !strings.HasPrefix(id, "jr1-") || strings.ToLower(id) != id {
		t.Errorf("MsgID(body) = %q, want jr1- and 32 lowercase hex digits", id)
	}
	// Signed, the ID covers the signer's key ID: a retry keeps it, the
	// same body re-signed by another key (a key rotation) gets another.
	id0, id1 := MsgID(mustEncode(t, r, &s0)), MsgID(mustEncode(t, r, &s1))
	if id0 == id || id1 == id || id0 == id1 {
		t.Errorf("MsgID(unsigned, signed by key 0, by key 1) = %q, %q, %q; want three IDs", id, id0, id1)
	}
	if again := MsgID(mustEncode(t, r, &s0)); again != id0 {
		t.Errorf("MsgID(signed by key 0, again) = %q, want %q", again, id0)
	}
	other := r
	other.Issued = other.Issued.Add(1)
	if got := MsgID(mustEncode(t, other, nil)); got == id {
		t.Errorf("MsgID(issued + 1ns) = %q, want different from %q", got, id)
	}
	// Malformed input is hashed whole: a trailing byte changes the ID.
	if got := MsgID(append(bytes.Clone(body), 0)); got == id {
		t.Errorf("MsgID(body + 00) = %q, want different from MsgID(body)", got)
	}
	if got, want := MsgID(nil), "jr1-e3b0c44298fc1c149afbf4c8996fb924"; got != want {
		t.Errorf("MsgID(nil) = %q, want %q", got, want)
	}
}

func TestConsumerFilter(t *testing.T) {
	for _, tc := range []struct {
		subjects []string
		prefix   string
		want     []string
	}{
		{[]string{"jwtrevoke.v1.>"}, "", nil},
		{[]string{"acme.revoke.>"}, "acme.revoke", nil},
		{[]string{"jwtrevoke.v1.>", "other.>"}, "", []string{"jwtrevoke.v1.>"}},
		{[]string{">"}, "", []string{"jwtrevoke.v1.>"}},
		{[]string{"acme.>"}, "acme.revoke", []string{"acme.revoke.>"}},
		{nil, "", []string{"jwtrevoke.v1.>"}},
	} {
		if got := ConsumerFilter(tc.subjects, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("ConsumerFilter(%q, %q) = %q, want %q", tc.subjects, tc.prefix, got, tc.want)
		}
	}
}
