// Package oauth is the OAuth 2.0 side of jwtrevoke, for clients and
// services that speak HTTP rather than Go: the token revocation endpoint
// (RFC 7009), which revokes a presented access token through a publisher,
// and the token introspection endpoint (RFC 7662), which answers from a
// local agent whether a token may be used.
//
// Both endpoints authenticate their callers the same way, configured by
// the same options: confidential clients (WithClientCredentials, HTTP Basic
// or form parameters, compared in constant time) and, if allowed, public
// ones (WithPublicClient, with CORS for the web origins given). Each
// handler counts its requests in a Prometheus collector of its own.
package oauth

import "errors"

// Errors returned by this package.
var (
	ErrBadOption = errors.New("jwtrevoke/oauth: bad option")
	// ErrNoClientAuth is returned by a handler constructor when neither
	// WithClientCredentials nor WithPublicClient says who may call it.
	ErrNoClientAuth = errors.New("jwtrevoke/oauth: the endpoint needs client credentials or a public client")
)

// MaxRequestSize is the largest request body either endpoint reads, in
// bytes. A larger one is refused with 413.
const MaxRequestSize = 16 << 10
