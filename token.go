package jwtrevoke

import (
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
	// (whole seconds unless it wrote a fraction). A token without iat is
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

// FromJWT returns the Token of a parsed, verified *jwt.Token: kid from its
// header, the rest from its claims (see FromClaims).
func FromJWT(t *jwt.Token) Token {
	kid, _ := t.Header["kid"].(string)
	return FromClaims(t.Claims, kid)
}

// FromClaims returns the Token of verified claims and the token's kid header.
// It understands jwt.MapClaims, *jwt.RegisteredClaims, jwt.RegisteredClaims
// and any claims type that embeds jwt.RegisteredClaims through the
// jwt.Claims methods; a session ID comes from MapClaims["sid"] or from a
// claims type that implements SessionIDGetter.
func FromClaims(c jwt.Claims, kid string) Token {
	t := Token{KeyID: kid}
	if c == nil {
		return t
	}
	switch v := c.(type) {
	case jwt.MapClaims:
		t.JTI, _ = v["jti"].(string)
		t.Session, _ = v["sid"].(string)
	case *jwt.RegisteredClaims:
		t.JTI = v.ID
	case jwt.RegisteredClaims:
		t.JTI = v.ID
	default:
		if g, ok := c.(interface{ GetID() string }); ok {
			t.JTI = g.GetID()
		} else if g, ok := c.(interface{ GetJTI() string }); ok {
			t.JTI = g.GetJTI()
		}
	}
	if g, ok := c.(SessionIDGetter); ok {
		t.Session = g.GetSessionID()
	}
	t.Subject, _ = c.GetSubject()
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		t.IssuedAt = iat.Time
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		t.ExpiresAt = exp.Time
	}
	return t
}
