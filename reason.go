package jwtrevoke

// Reason names why a token was refused, or why an allowed answer may be
// wrong. The agent's Result, the verifier's errors, the HTTP endpoints'
// "reason" fields and the command's output all use these values; they are
// part of the documented contract, so a value never changes meaning.
type Reason string

// Reasons, from the token's shape to the revocation check.
const (
	ReasonNone      Reason = ""          // nothing to say: a fresh, allowed answer
	ReasonMissing   Reason = "missing"   // no token in the request
	ReasonMalformed Reason = "malformed" // not a JWT, oversized, or a claim of the wrong type
	ReasonExpired   Reason = "expired"   // exp passed, or nbf or iat not yet reached
	ReasonInvalid   Reason = "invalid"   // bad signature, algorithm, key, issuer, audience or crit
	ReasonNoJTI     Reason = "no_jti"    // no jti: such a token could never be revoked
	ReasonRevoked   Reason = "revoked"   // a live revocation matches
	ReasonUnknown   Reason = "unknown"   // the agent could not settle its answer in time
	ReasonStale     Reason = "stale"     // the agent has not heard the stream within its staleness bound
	ReasonNotReady  Reason = "not_ready" // the agent is still replaying the stream
)

// Description is a short human text for the reason, safe to show clients.
func (r Reason) Description() string {
	switch r {
	case ReasonNone:
		return "the token may be used"
	case ReasonMissing:
		return "no bearer token"
	case ReasonMalformed:
		return "the token is malformed"
	case ReasonExpired:
		return "the token is expired or not yet valid"
	case ReasonNoJTI:
		return "the token has no jti claim"
	case ReasonRevoked:
		return "the token has been revoked"
	case ReasonUnknown, ReasonStale, ReasonNotReady:
		return "the token's revocation status cannot be confirmed"
	}
	return "the token is invalid"
}
