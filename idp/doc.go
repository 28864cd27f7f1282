// Package idp turns what identity providers send into revocations that
// every agent honours within milliseconds: OpenID Connect Back-Channel
// Logout tokens (BackchannelLogout) and Global Token Revocation requests
// (GlobalTokenRevocation). Each is an http.Handler, mountable in any Go
// server; jwtrevoke serve mounts them at /backchannel-logout and
// /global-token-revocation.
//
// Nothing is revoked by a request that fails validation, and every
// request is counted by outcome. A logout token is remembered by its jti
// only after its signature and claims verify, so a flood of bogus tokens
// does not grow the replay cache, which is bounded in any case.
//
// # Which time is the cut-off
//
// A logout ends the tokens issued before it. The provider's own clock
// stamped the logout token's iat and the iat of every token it issued
// before the logout, so every such token has iat <= the logout token's
// iat, whatever this machine's clock says. The cut-off is iat + 1 s
// (tokens are revoked when their iat is before the cut-off, compared at
// the token's precision: whole seconds), which refuses all of them; a
// token issued in the logout's own second is refused too, and the user
// logs in again a moment later. The same holds for a SET's event time.
//
// The cut-off depends on the logout token alone, not on when it arrived:
// a logout delivered late does not refuse the tokens of a login that
// followed it, and a logout token replayed to another receiver (one that
// has not seen its jti) writes the very same revocation again, refusing
// nothing new. What it relies on is the provider's nodes agreeing on the
// time: a node more than a second ahead of the one that signed the logout
// could stamp an earlier token with an iat past the cut-off.
package idp
