// Package gateway gives the local revocation check to APIs that cannot
// embed the agent — any language behind a gateway or with a sidecar.
//
// Authorizer is the decision: it takes a request's token (the
// Authorization header's bearer token, or a configured cookie), verifies
// it, and asks the local agent whether it may be used. It reads no body
// and makes no network call: the check costs what the agent's does. Two
// Authorization headers, two cookies of the configured name, or a token
// with a comma or space inside (two headers a proxy joined) are refused,
// since the upstream might read the other one.
//
// ForwardAuth is its HTTP outlet, for the authorization subrequests of
// nginx (auth_request), Traefik (ForwardAuth) and Caddy (forward_auth): 200
// with identity headers the gateway copies to the upstream, or 401 with an
// RFC 6750 challenge. Package gateway/extauthz is its outlet for Envoy.
//
// The gateway must overwrite the identity headers on the upstream request
// with the ones the outlet returns (the configurations in deploy/gateway
// do), or a client could send its own.
package gateway
