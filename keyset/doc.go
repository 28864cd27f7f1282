// Package keyset gives the keys that verify JWTs, each with the identity a
// signing-key revocation (kind kid) names it by: a fixed set (NewStatic),
// an issuer's JSON Web Key Sets kept current as it rotates them (NewJWKS),
// or a plain jwt.Keyfunc (Keyfunc, which cannot tell which key verified).
//
// A Set is what verify.New and verify.Middleware take. The package knows
// nothing of the revocation stream: it is a key source any verifier can
// use.
package keyset

import "errors"

// ErrBadOption is returned for an invalid option or argument.
var ErrBadOption = errors.New("jwtrevoke/keyset: bad option")
