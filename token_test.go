package jwtrevoke_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
)

type appClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	Role      string `json:"role"`
}

type getterClaims struct {
	jwt.RegisteredClaims
	S string `json:"-"`
}

func (g getterClaims) GetSessionID() string { return g.S }

func TestFromClaims(t *testing.T) {
	iat := time.Unix(1700000000, 0)
	exp := iat.Add(5 * time.Minute)
	reg := jwt.RegisteredClaims{ID: "j1", Subject: "alice", IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp)}
	want := jwtrevoke.Token{JTI: "j1", Subject: "alice", KeyID: "k1", IssuedAt: iat, ExpiresAt: exp}
	withSID := want
	withSID.Session = "s1"
	tests := []struct {
		name   string
		claims jwt.Claims
		want   jwtrevoke.Token
	}{
		{"map", jwt.MapClaims{"jti": "j1", "sub": "alice", "sid": "s1", "iat": float64(iat.Unix()), "exp": float64(exp.Unix())}, withSID},
		{"map fractional iat", jwt.MapClaims{"jti": "j1", "iat": 1700000000.25}, jwtrevoke.Token{JTI: "j1", KeyID: "k1", IssuedAt: time.Unix(1700000000, 250e6)}},
		{"registered", reg, want},
		{"registered pointer", &reg, want},
		{"embedded", appClaims{RegisteredClaims: reg, SessionID: "s1", Role: "admin"}, withSID},
		{"embedded pointer", &appClaims{RegisteredClaims: reg, SessionID: "s1"}, withSID},
		{"getter", getterClaims{RegisteredClaims: reg, S: "s1"}, withSID},
		{"nil", nil, jwtrevoke.Token{KeyID: "k1"}},
	}
	for i, tt := range tests {
		got, err := jwtrevoke.FromClaims(tt.claims, "k1")
		if err != nil {
			t.Errorf("step %d (%s): FromClaims(%#v) error = %v", i, tt.name, tt.claims, err)
		}
		if got.JTI != tt.want.JTI || got.Subject != tt.want.Subject || got.Session != tt.want.Session || got.KeyID != tt.want.KeyID ||
			!got.IssuedAt.Equal(tt.want.IssuedAt) || !got.ExpiresAt.Equal(tt.want.ExpiresAt) {
			t.Errorf("step %d (%s): FromClaims(%#v) = %+v, want %+v", i, tt.name, tt.claims, got, tt.want)
		}
	}
}

func TestFromJWT(t *testing.T) {
	key := []byte("secret")
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"jti": "j9", "sub": "bob", "sid": "s9", "iat": 1700000000, "exp": 4000000000})
	tok.Header["kid"] = "key-2026"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return key, nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("jwt.Parse() error = %v", err)
	}
	got, err := jwtrevoke.FromJWT(parsed)
	if err != nil {
		t.Fatalf("FromJWT() error = %v", err)
	}
	if got.JTI != "j9" || got.Subject != "bob" || got.Session != "s9" || got.KeyID != "key-2026" || got.IssuedAt.Unix() != 1700000000 {
		t.Errorf("FromJWT() = %+v, want jti j9, sub bob, sid s9, kid key-2026, iat 1700000000", got)
	}
}

// TestFromClaimsWrongTypes: a claim a revocation can name that is present
// but not a non-empty string must be an error, never read as absent (which
// would switch off every revocation of that kind for the token).
func TestFromClaimsWrongTypes(t *testing.T) {
	for i, c := range []jwt.MapClaims{
		{"jti": "j1", "sub": float64(4242)},
		{"jti": "j1", "sub": json.Number("4242")},
		{"jti": "j1", "sub": ""},
		{"jti": "j1", "sub": nil},
		{"jti": "j1", "sub": []any{"alice"}},
		{"jti": "j1", "sid": true},
		{"jti": "j1", "sid": map[string]any{"id": "s1"}},
		{"jti": "j1", "sid": ""},
		{"jti": float64(7)},
		{"jti": ""},
		{"jti": []any{"j1", "j2"}},
	} {
		got, err := jwtrevoke.FromClaims(c, "k1")
		if !errors.Is(err, jwtrevoke.ErrMalformedClaims) {
			t.Errorf("step %d: FromClaims(%v) = %+v, %v; want an error wrapping ErrMalformedClaims", i, c, got, err)
		}
	}
	for i, h := range []map[string]any{{"kid": float64(1)}, {"kid": ""}, {"kid": []any{"k1"}}, {"kid": nil}} {
		tok := &jwt.Token{Header: h, Claims: jwt.MapClaims{"jti": "j1"}}
		if got, err := jwtrevoke.FromJWT(tok); !errors.Is(err, jwtrevoke.ErrMalformedClaims) {
			t.Errorf("step %d: FromJWT(header %v) = %+v, %v; want an error wrapping ErrMalformedClaims", i, h, got, err)
		}
	}
}
