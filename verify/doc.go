// Package verify verifies JWTs and refuses revoked ones in net/http:
// Verifier checks a token's header, signature (with the keys of a
// keyset.Set, which names the key that verified) and claims, and turns it
// into the jwtrevoke.Token the revocation check uses; Middleware adds the
// agent's check and passes the verified claims to the next handler.
//
// Other JWT middleware (auth0/go-jwt-middleware, echo-jwt, jwtauth) can
// keep their own verification and call agent.IsRevokedJWT instead.
//
// Every refusal is an *Error carrying a jwtrevoke.Reason: Verify returns
// it as an error (match it with errors.As), and the middleware hands it to
// its ErrorHandler, by default a 401 with an RFC 6750 WWW-Authenticate
// header.
package verify
