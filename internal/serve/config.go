package serve

// serve's settings, checked before anything starts: every problem is
// reported at once, as a usage error (exit 2).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// config is what serve's flags, checked, say.
type config struct {
	clients    []client
	public     bool   // anyone holding a token may revoke it at /revoke
	adminToken string // "" turns the admin API off
	keys       *clitool.Keyring
	verifier   *verify.Verifier
	// forwardAuth configures /forward-auth.
	forwardAuth []gateway.Option
	idp         *idpConfig
}

// client is one OAuth client of the endpoints.
type client struct{ id, secret string }

// fromEnv fills in the secrets the environment gives, where no flag did:
// they are not flag defaults, which --help prints.
func (f *flags) fromEnv() {
	if len(f.clients) == 0 {
		f.clients = envList("JWTREVOKE_CLIENTS")
	}
	if f.adminToken == "" && f.adminTokenFile == "" {
		f.adminToken = os.Getenv("JWTREVOKE_ADMIN_TOKEN")
	}
	if f.keys.hmacSecret == "" && f.keys.hmacSecretFile == "" {
		f.keys.hmacSecret = os.Getenv("JWTREVOKE_HMAC_SECRET")
	}
}

// envList splits an environment variable on spaces and commas.
func envList(name string) []string {
	return strings.FieldsFunc(os.Getenv(name), func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' })
}

// config checks everything that can be checked before anything starts,
// and reports every problem at once (usageErrors). It reads the keys and
// starts the JWKS refresh, which runs until ctx ends.
func (f *flags) config(ctx context.Context, log *slog.Logger) (*config, error) {
	var bad []error
	c := &config{public: f.publicClient || len(f.corsOrigins) > 0}
	clients, err := f.clientList()
	if err != nil {
		bad = append(bad, err)
	}
	c.clients = clients
	bad = append(bad, f.checkCORS()...)
	if f.checkOnly && c.public {
		bad = append(bad, errors.New("--check-only serves no /revoke: drop --public-client and --cors-origin"))
	}
	if f.checkOnly && f.idp.ssfIssuer != "" {
		bad = append(bad, errors.New("--check-only revokes nothing, so it takes no SETs: drop --ssf-issuer"))
	}
	if f.checkOnly && f.idp.issuer != "" {
		bad = append(bad, errors.New("--check-only revokes nothing, so it takes no back-channel logout: drop --oidc-issuer"))
	}
	if err == nil && len(clients) == 0 && !c.public && !f.checkOnly {
		bad = append(bad, errors.New("no OAuth clients: give --client id:secret (or --client-id and --client-secret), or --public-client / --cors-origin to let anyone revoke the tokens they hold"))
	}
	if c.adminToken, err = f.admin(); err != nil {
		bad = append(bad, err)
	}
	if c.keys, err = f.keys.keyring(ctx, log); err != nil {
		bad = append(bad, err)
	}
	if c.keys != nil {
		if c.verifier, err = f.verifier(c.keys); err != nil {
			bad = append(bad, err)
		}
	}
	if f.forwardAuthCookie != "" {
		if err := gateway.CheckCookieName(f.forwardAuthCookie); err != nil {
			bad = append(bad, fmt.Errorf("--forward-auth-cookie: %w", err))
		}
		c.forwardAuth = append(c.forwardAuth, gateway.WithCookie(f.forwardAuthCookie))
	}
	// The provider's discovery document and keys are fetched only once
	// everything else is right.
	var ibad []error
	c.idp, ibad = f.idp.config(ctx, log, len(bad) == 0)
	bad = append(bad, ibad...)
	if f.snapshotEvery < 0 {
		bad = append(bad, fmt.Errorf("--snapshot-every %v: want 0 (no snapshots) or a positive interval", f.snapshotEvery))
	}
	if len(bad) > 0 {
		return nil, usageErrors(bad)
	}
	return c, nil
}

// clientList merges --client and --client-id/--client-secret.
func (f *flags) clientList() ([]client, error) {
	if len(f.clientIDs) != len(f.clientSecrets) {
		return nil, fmt.Errorf("%d --client-id but %d --client-secret: give them in pairs", len(f.clientIDs), len(f.clientSecrets))
	}
	var out []client
	for _, c := range f.clients {
		id, secret, ok := strings.Cut(c, ":")
		if !ok {
			return nil, fmt.Errorf("--client %q: want id:secret", redact(c))
		}
		out = append(out, client{id, secret})
	}
	for i, id := range f.clientIDs {
		out = append(out, client{id, f.clientSecrets[i]})
	}
	seen := map[string]bool{}
	for _, c := range out {
		switch {
		case c.id == "":
			return nil, errors.New("a client id is empty")
		case len(c.secret) < minSecretBytes:
			return nil, fmt.Errorf("client %q: the secret is %d bytes, want at least %d", c.id, len(c.secret), minSecretBytes)
		case seen[c.id]:
			return nil, fmt.Errorf("client %q given twice", c.id)
		}
		seen[c.id] = true
	}
	return out, nil
}

// checkCORS refuses --cors-origin values that are not web origins.
func (f *flags) checkCORS() []error {
	var bad []error
	for _, o := range f.corsOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "") {
			bad = append(bad, fmt.Errorf("--cors-origin %q: want a web origin, scheme://host[:port], or *", o))
		}
	}
	return bad
}

// admin returns the admin token, "" if the admin API is off.
func (f *flags) admin() (string, error) {
	tok := f.adminToken
	if f.adminTokenFile != "" {
		if tok != "" {
			return "", errors.New("give the admin token once: --admin-token (or JWTREVOKE_ADMIN_TOKEN) or --admin-token-file")
		}
		var err error
		if tok, err = clitool.ReadSecretFile("--admin-token-file", f.adminTokenFile); err != nil {
			return "", err
		}
	}
	if tok != "" && len(tok) < minSecretBytes {
		return "", fmt.Errorf("the admin token is %d bytes, want at least %d (try: openssl rand -hex 32)", len(tok), minSecretBytes)
	}
	return tok, nil
}

// verifier is the token verifier of the keys, --issuer, --audience and
// --leeway.
func (f *flags) verifier(keys *clitool.Keyring) (*verify.Verifier, error) {
	opts := []verify.Option{verify.WithLeeway(f.leeway)}
	if f.issuer != "" {
		opts = append(opts, verify.WithIssuer(f.issuer))
	}
	if len(f.audience) > 0 {
		opts = append(opts, verify.WithAudience(f.audience...))
	}
	return verify.New(keys, keys.Algs(), opts...)
}

// policy is the agent's policy when it is stale: --fail-open or not.
func (f *flags) policy() agent.Policy {
	if f.failOpen {
		return agent.FailOpen
	}
	return agent.FailClosed
}

// redact hides the secret of an id:secret pair.
func redact(s string) string {
	if id, _, ok := strings.Cut(s, ":"); ok {
		return id + ":…"
	}
	if len(s) > 4 {
		return s[:4] + "…"
	}
	return "…"
}

// usageErrors reports every missing or invalid setting serve found as a
// usage error (exit 2).
func usageErrors(bad []error) error {
	if len(bad) == 1 {
		return clitool.Usage(bad[0])
	}
	return clitool.Usage(badSettings(bad))
}

// badSettings is more than one problem with serve's settings, one a line.
type badSettings []error

func (e badSettings) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d settings are missing or invalid:", len(e))
	for _, err := range e {
		b.WriteString("\n  - " + err.Error())
	}
	return b.String()
}

func (e badSettings) Unwrap() []error { return e }
