// Package extauthz gives Envoy, and the meshes built on it (Istio, Envoy
// Gateway, Gloo, Contour), the local revocation check: a gRPC server of
// envoy.service.auth.v3.Authorization, the API of Envoy's ext_authz
// filter, answered from the local agent.
//
// Run it beside the proxy (the same pod, on loopback) and point the
// ext_authz filter at it. An allowed request reaches the upstream with the
// identity headers of package gateway (X-Auth-Subject, X-Auth-Session,
// X-Auth-Token-Id, and Jwtrevoke-Stale under a failing-open agent), set
// over whatever the client sent, and the ones the token has no claim for
// removed; a refused one gets the 401 with the RFC 6750 WWW-Authenticate
// challenge and X-Auth-Reason. The decision is gateway.Authorizer's, the
// same as /forward-auth's.
//
// The filter must fail closed (failure_mode_allow: false, Envoy's default;
// Istio's failOpen: false, its default), or a sidecar that is down lets
// every token through. The configurations in deploy/envoy do.
package extauthz
