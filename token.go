package jwtrevoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token is what a revocation check needs from a verified JWT. It is a small
// value: build it once per request with FromJWT (or by hand) and pass it to
// the check. Empty strings and zero times mean "claim absent".
type Token struct {
	JTI     string // jti claim
	Subject string // sub claim
	Session string // sid claim
	KeyID   string // kid header
	// IssuedAt is the iat claim at the precision the issuer wrote it
	// (whole seconds unless it wrote a fraction). FromClaims keeps the
	// fraction for jwt.MapClaims; struct claims are truncated by the jwt
	// package to jwt.TimePrecision (a second unless the program sets it).
	// Truncation only ever moves iat earlier, so it can revoke a token
	// issued just after a cut-off, never let one issued before through.
	// A token without iat is
	// treated as issued before any cut-off: it falls under every subject,
	// session and all revocation that matches it.
	IssuedAt time.Time
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// SessionIDGetter is implemented by custom claims types that carry a session
// ID, so FromClaims can read it without a map.
type SessionIDGetter interface {
	GetSessionID() string
}

// ErrMalformedClaims is returned by FromJWT and FromClaims when a claim or
// header a revocation can name (jti, sub, sid, kid) is present but is not a
// non-empty string. Such a token must be refused: a check that treated the
// claim as absent would let it past every revocation of that kind.
var ErrMalformedClaims = errors.New("jwtrevoke: malformed claims")

// FromJWT returns the Token of a parsed, verified *jwt.Token: kid from its
// header, the rest from its claims (see FromClaims). A kid header that is
// present but not a non-empty string is an error wrapping
// ErrMalformedClaims.
//
// The kid a key revocation is checked against should be the identity of
// the key that verified the token, not what its header claims: the
// agent's Verifier and Middleware set it so (see keyset.Set). FromJWT
// can only read the header, so a key revocation holds against a token
// it builds only if the keyfunc that verified it picked the key by that
// kid and refused a kid it did not know.
func FromJWT(t *jwt.Token) (Token, error) {
	kid, err := stringMember("kid header", t.Header, "kid")
	if err != nil {
		return Token{}, err
	}
	return FromClaims(t.Claims, kid)
}

// FromClaims returns the Token of verified claims, with kid as its key
// identity. It understands jwt.MapClaims, jwt.RegisteredClaims (value or
// pointer) and struct claims types: their jti is the string field tagged
// `json:"jti"` (an embedded jwt.RegisteredClaims provides it) and their sid
// the string field tagged `json:"sid"`, unless the type implements
// SessionIDGetter.
//
// In jwt.MapClaims a jti, sub or sid that is present but not a non-empty
// string (a number, an array, null, "") is an error wrapping
// ErrMalformedClaims; struct claims get the same protection from
// encoding/json, which refuses a number for a string field.
func FromClaims(c jwt.Claims, kid string) (Token, error) {
	t := Token{KeyID: kid}
	if c == nil {
		return t, nil
	}
	switch v := c.(type) {
	case jwt.MapClaims:
		var err error
		if t.JTI, err = stringMember("claim", v, "jti"); err != nil {
			return Token{}, err
		}
		if t.Session, err = stringMember("claim", v, "sid"); err != nil {
			return Token{}, err
		}
		if t.Subject, err = stringMember("claim", v, "sub"); err != nil {
			return Token{}, err
		}
	case *jwt.RegisteredClaims:
		t.JTI = v.ID
	case jwt.RegisteredClaims:
		t.JTI = v.ID
	default:
		t.JTI, t.Session = structIDs(c)
	}
	if g, ok := c.(SessionIDGetter); ok {
		t.Session = g.GetSessionID()
	}
	if _, ok := c.(jwt.MapClaims); !ok {
		sub, err := c.GetSubject()
		if err != nil {
			return Token{}, fmt.Errorf("%w: sub: %v", ErrMalformedClaims, err)
		}
		t.Subject = sub
	}
	if m, ok := c.(jwt.MapClaims); ok {
		// Read iat at the precision the issuer wrote it: the jwt package
		// truncates NumericDates to jwt.TimePrecision (a second by default).
		t.IssuedAt = mapTime(m["iat"])
	} else if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		t.IssuedAt = iat.Time
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		t.ExpiresAt = exp.Time
	}
	return t, nil
}

// stringMember returns m[name] if it is a non-empty string, "" if it is
// absent, and an error wrapping ErrMalformedClaims otherwise.
func stringMember(what string, m map[string]any, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", nil
	}
	s, isString := v.(string)
	switch {
	case !isString:
		return "", fmt.Errorf("%w: %s %q is a JSON %s, want a non-empty string", ErrMalformedClaims, what, name, jsonType(v))
	case s == "":
		return "", fmt.Errorf("%w: %s %q is empty", ErrMalformedClaims, what, name)
	}
	return s, nil
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number, int, int64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// mapTime converts a NumericDate from MapClaims without truncating it.
func mapTime(v any) time.Time {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case int64:
		return time.Unix(n, 0)
	case int:
		return time.Unix(int64(n), 0)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return time.Time{}
		}
		f = x
	default:
		return time.Time{}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < -1e12 || f > 1e12 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	// Round the fraction to the microsecond: a float64 near 2^31 seconds
	// carries no more than that.
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
}

// structIDs finds the jti and sid of a struct claims type by their JSON
// tags, looking through embedded structs such as jwt.RegisteredClaims.
func structIDs(c jwt.Claims) (jti, sid string) {
	v := reflect.ValueOf(c)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return "", ""
	}
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if f.Anonymous && depth < 3 {
				for fv.Kind() == reflect.Pointer && !fv.IsNil() {
					fv = fv.Elem()
				}
				if fv.Kind() == reflect.Struct {
					walk(fv, depth+1)
				}
				continue
			}
			if fv.Kind() != reflect.String {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "jti" && jti == "":
				jti = fv.String()
			case name == "sid" && sid == "":
				sid = fv.String()
			}
		}
	}
	walk(v, 0)
	return jti, sid
}
