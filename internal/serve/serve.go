// Package serve is `jwtrevoke serve`, the revocation service: a publisher
// and an agent on the revocation stream behind HTTP endpoints, RFC 7009
// /revoke and RFC 7662 /introspect for OAuth clients, an admin API behind a
// bearer token, and health and metrics. It verifies tokens with an HMAC
// secret, PEM public keys or JWKS URLs, and runs on an embedded NATS
// server for development or on a cluster.
//
// It builds on internal/cli/clitool (global flags, the NATS connection and
// the embedded server, the keyring, exit statuses); cmd/jwtrevoke adds its
// command to the root. The service's HTTP handlers are safe for use by
// multiple goroutines; the rest runs on the goroutine that runs the verb.
package serve

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// minSecretBytes is the shortest client secret or admin token serve
// accepts.
const minSecretBytes = 16

// flags are the flags of `jwtrevoke serve`.
type flags struct {
	listen     string
	data       string
	natsListen string

	clients       []string // id:secret
	clientIDs     []string
	clientSecrets []string
	corsOrigins   []string
	publicClient  bool

	adminToken     string
	adminTokenFile string

	keys     keyFlags
	issuer   string
	audience []string
	leeway   time.Duration

	staleness       time.Duration
	failOpen        bool
	replicas        int
	shutdownTimeout time.Duration
	snapshotEvery   time.Duration

	forwardAuthCookie string
	extAuthzListen    string
	checkOnly         bool

	idp idpFlags
}

const long = `Run the revocation service: a publisher and an agent on the revocation
stream, behind HTTP endpoints.

  POST /revoke          RFC 7009 token revocation (client authentication: HTTP Basic)
  POST /introspect      RFC 7662 token introspection (same clients)
  *    /forward-auth    a gateway's auth subrequest (nginx auth_request, Traefik
                        ForwardAuth, Caddy forward_auth): 200 with X-Auth-Subject,
                        X-Auth-Session, X-Auth-Token-Id, or 401; any method, no body read
  gRPC ext_authz        envoy.service.auth.v3.Authorization/Check on --ext-authz-listen,
                        for Envoy's ext_authz filter (Istio CUSTOM): /forward-auth's answer
  POST /backchannel-logout
                        OpenID Connect Back-Channel Logout (--oidc-issuer, --oidc-client-id):
                        a logout token's sid revokes the session, a sub alone cuts the subject off
  POST /ssf/events      Shared Signals: a pushed SET (RFC 8935) from --ssf-issuer, 202; CAEP
                        session-revoked, credential-change, RISC account-disabled and
                        sessions-revoked revoke (or --ssf-poll-url to poll, RFC 8936)
  POST /global-token-revocation
                        the subject of an RFC 9493 identifier cut off (admin token), 204
  POST /admin/revoke    revoke a subject, session, key, token or everything (admin token)
  GET  /admin/live      live revocations by kind, and the stream's state (admin token)
  GET  /admin/events    the latest events on the stream, decoded (admin token)
  GET  /livez           200 while the process runs
  GET  /readyz          200 once the agent has replayed the stream and is fresh, else 503
  GET  /metrics         Prometheus metrics

Without --server (or NATS_URL) it starts an embedded NATS server with
JetStream, storing under --data and accepting other NATS clients (agents, the
nats CLI, the other verbs) on --nats-listen. The embedded server has no authentication: keep it on
loopback, or run a real cluster and pass --server.

Tokens are verified with an HMAC secret, PEM public keys or a JWKS URL, the
algorithms of --alg. The admin API is off unless an admin token is given; it
is never generated, so that no credential ends up in a log.

Secrets given as flags show in ps and shell history: prefer the environment
(JWTREVOKE_HMAC_SECRET, JWTREVOKE_ADMIN_TOKEN, JWTREVOKE_CLIENTS) or
--hmac-secret-file and --admin-token-file.

Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 1 failed (a busy
port, NATS unreachable, a server that stopped), 2 usage error: an unknown flag,
or missing or invalid settings, which are all reported together.`

const example = `  # development: embedded NATS, an HMAC issuer, one confidential client
  JWTREVOKE_HMAC_SECRET=$(cat hmac.key) JWTREVOKE_ADMIN_TOKEN=$(cat admin.token) \
    jwtrevoke serve --client api-gateway:$(cat gw.secret)

  curl -u api-gateway:$GW_SECRET -d token=$JWT http://127.0.0.1:8080/revoke
  curl -H "Authorization: Bearer $ADMIN" -d '{"kind":"sub","key":"alice","reason":"password change"}' \
    http://127.0.0.1:8080/admin/revoke

  # production: a NATS cluster, keys from the identity provider
  jwtrevoke serve --server nats://n1:4222,nats://n2:4222 --creds serve.creds \
    --jwks-url https://id.example.com/.well-known/jwks.json --issuer https://id.example.com \
    --listen 0.0.0.0:8080 --admin-token-file admin.token   # clients in JWTREVOKE_CLIENTS="gw:…"`

// NewCommand returns `jwtrevoke serve`. It reads the global flags from g;
// the service runs until the command's context ends (SIGINT, SIGTERM).
func NewCommand(g *clitool.Globals) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Run the revocation service: RFC 7009 /revoke, RFC 7662 /introspect, an admin API, health and metrics",
		Long:    long,
		Example: example,
		Args:    clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP address to serve on (host:port)")
	fs.StringVar(&f.data, "data", "./jwtrevoke-data", "JetStream store directory of the embedded NATS server (only without --server)")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "address where the embedded NATS server accepts clients (only without --server); it has no authentication")

	fs.StringArrayVar(&f.clients, "client", nil, "OAuth client allowed to call /revoke and /introspect, as id:secret; repeatable (env JWTREVOKE_CLIENTS, space separated)")
	fs.StringArrayVar(&f.clientIDs, "client-id", nil, "OAuth client id; repeatable, paired in order with --client-secret")
	fs.StringArrayVar(&f.clientSecrets, "client-secret", nil, fmt.Sprintf("secret of the --client-id at the same position (at least %d bytes)", minSecretBytes))
	fs.StringArrayVar(&f.corsOrigins, "cors-origin", nil, `web origin (https://app.example.com, or "*") whose pages may call /revoke from a browser without client authentication; repeatable`)
	fs.BoolVar(&f.publicClient, "public-client", false, "let anyone holding a token revoke it at /revoke without client authentication (implied by --cors-origin)")

	fs.StringVar(&f.adminToken, "admin-token", "", fmt.Sprintf("bearer token for the /admin API, at least %d bytes (env JWTREVOKE_ADMIN_TOKEN); without one the admin API is off", minSecretBytes))
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "file holding the admin token (one trailing newline is ignored)")

	f.keys.register(fs)
	fs.StringVar(&f.issuer, "issuer", "", "require this iss claim (default: not checked)")
	fs.StringArrayVar(&f.audience, "audience", nil, "require the aud claim to contain one of these; repeatable (default: not checked)")
	fs.DurationVar(&f.leeway, "leeway", 30*time.Second, "clock leeway for exp, nbf and iat")

	fs.DurationVar(&f.staleness, "staleness", 5*time.Second, "how long the agent may go without hearing the stream before it is stale (and /readyz fails)")
	fs.BoolVar(&f.failOpen, "fail-open", false, "when stale, let /introspect and /forward-auth answer from memory (marked with a Jwtrevoke-Stale header) instead of inactive and 401")
	fs.IntVar(&f.replicas, "replicas", 1, "replicas of the revocation stream when serve creates it (3 on a cluster)")
	fs.DurationVar(&f.snapshotEvery, "snapshot-every", 5*time.Minute, "write a snapshot of the live revocations to <stream>_SNAPSHOTS this often when events arrived, so new agents start from it (0: never; docs/snapshot-format.md)")
	fs.StringVar(&f.forwardAuthCookie, "forward-auth-cookie", "", "also take the token of /forward-auth and of the ext_authz server from this cookie when the request has no Authorization header")
	fs.StringVar(&f.extAuthzListen, "ext-authz-listen", "", "also serve Envoy's ext_authz gRPC API (envoy.service.auth.v3.Authorization) on this address, e.g. 127.0.0.1:9191 (default: off)")
	f.idp.register(fs)
	fs.BoolVar(&f.checkOnly, "check-only", false, "answer checks only (/forward-auth, ext_authz, /introspect, /admin/live): no publisher, so the agent's read-only NATS user is enough (a sidecar); /revoke and /admin/revoke answer 404, no snapshots are written, and the stream must exist")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let requests in flight finish on SIGINT/SIGTERM")
	return cmd
}
