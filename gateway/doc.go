// Package gateway gives the local revocation check to APIs that cannot
// embed the agent — any language behind a gateway or with a sidecar.
//
// ForwardAuth answers the authorization subrequests of nginx
// (auth_request), Traefik (ForwardAuth) and Caddy (forward_auth): it
// verifies the forwarded request's token, asks the local agent whether it
// may be used, and answers 200 with identity headers the gateway copies to
// the upstream, or 401 with an RFC 6750 challenge. It reads no request
// body and makes no network call: the check costs what the agent's does.
//
// The gateway must overwrite the identity headers on the upstream request
// with the ones ForwardAuth returns (the configurations in deploy/gateway do),
// or a client could send its own.
package gateway
