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
// iat, whatever this machine's clock says. A cut-off of iat + 1 s
// (tokens are revoked when their iat is before the cut-off, compared at
// the token's precision: whole seconds) therefore refuses all of them. The
// cut-off is the later of that and the time the logout arrived here, so a
// provider whose servers' clocks disagree, or one that stamps a late iat,
// still cannot let an earlier token through. The price: a token issued in
// the same second as the logout (or before it arrived) is refused too; the
// user logs in again, with a new session, a moment later.
package idp
