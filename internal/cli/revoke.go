package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// revokeOptions are the flags every revoke verb shares.
type revokeOptions struct {
	g            *clitool.Globals
	verified     *bool // set by revoke token
	reason       string
	actor        string
	createStream bool
	signKey      string
	signKeyID    string
	timeout      time.Duration
	confirm      int
	confirmIn    time.Duration
	// confirmed is how long confirmation took, for the receipt.
	confirmed time.Duration
}

// NewRevokeCommand returns `jwtrevoke revoke` and its verbs, one per
// kind of revocation. They read the global flags from g.
func NewRevokeCommand(g *clitool.Globals) *cobra.Command {
	o := &revokeOptions{g: g}
	c := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a token, a subject, a session, a signing key or everything",
		Long: `Revoke writes one revocation event to the stream and returns once the server
has stored it: from then on every agent refuses the tokens it names, and agents
that start later replay it.

The receipt says what was stored: the event is merged with the key's earlier one
(the later cut-off and expiry win), so revoking the same subject twice keeps one
event, with the later cut-off.

By default the stream must exist already (jwtrevoke serve and every publisher
create it); --create-stream creates it with the safe configuration.

With --confirm N it returns once N live agents (API replicas) have reported
applying the event, and says how long that took; if fewer have within
--confirm-timeout it says how many did and exits 1, though the event is stored
and the others will apply it as they catch up.

Exit status: 0 stored (or nothing to revoke: the token has expired), 1 not
stored (no server, no stream, refused, timed out) or not confirmed by N agents,
2 usage error (a missing argument or kind, an unknown flag, a bad flag value
such as an empty key).`,
		Example: `  jwtrevoke revoke token eyJhbGciOi... --hmac-secret-file secret.txt --reason logout
  jwtrevoke revoke jti 5b1f0c2e --exp 15m
  jwtrevoke revoke subject alice --reason "password change" --confirm 3
  jwtrevoke revoke session 9f3a --before 2026-01-15T10:00:00Z
  jwtrevoke revoke key signing-2026-01 --reason "key leaked"
  jwtrevoke revoke all --force --reason "incident 42"`,
		Args: clitool.UnknownVerb,
		RunE: clitool.NeedVerb("give a kind to revoke: token, jti, subject, session, key or all"),
	}
	f := c.PersistentFlags()
	f.StringVar(&o.reason, "reason", "", "why, recorded in the event for audit logs (at most 1024 bytes)")
	f.StringVar(&o.actor, "actor", defaultActor(), "who, recorded in the event (at most 256 bytes)")
	f.BoolVar(&o.createStream, "create-stream", false, "create the revocation stream if it does not exist")
	f.StringVar(&o.signKey, "sign-key", "", "sign the event with this ed25519 private key file (PKCS#8 PEM, or a 32-byte seed as hex, base64 or raw bytes)")
	f.StringVar(&o.signKeyID, "sign-key-id", "", "the key ID agents know --sign-key by (required with --sign-key)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up when the server has not stored the event within this time")
	f.IntVar(&o.confirm, "confirm", 0, "wait until this many live agents have reported applying the event (exit 1 if fewer do within --confirm-timeout; the event is stored all the same)")
	f.DurationVar(&o.confirmIn, "confirm-timeout", 5*time.Second, "how long --confirm waits")
	c.AddCommand(o.tokenCmd(), o.jtiCmd(), o.cutoffCmd(jwtrevoke.KindSubject), o.cutoffCmd(jwtrevoke.KindSession), o.keyCmd(), o.allCmd())
	return c
}

// tokenCmd is `revoke token <jwt>`.
func (o *revokeOptions) tokenCmd() *cobra.Command {
	var keys keyFlags
	c := &cobra.Command{
		Use:   "token <jwt | ->",
		Short: "Revoke one token by its jti, until its exp (both read from the token)",
		Long: `Revoke one token: its jti is revoked until its exp (plus the publisher's
leeway). The token's signature is verified with --hmac-secret-file, --hmac-secret
or --pem first, so a forged token cannot revoke someone else's jti; its times
are not checked, since an expired token needs no revocation and is reported as
such. --unverified skips the signature check and says so loudly.

Give the token as "-" to read it from stdin, which keeps it out of the process
list and the shell history.`,
		Example: `  jwtrevoke revoke token "$JWT" --hmac-secret-file secret.txt
  echo "$JWT" | jwtrevoke revoke token - --pem issuer.pub.pem --reason logout
  jwtrevoke revoke token "$JWT" --unverified --json`,
		Args: clitool.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readToken(cmd, args[0])
			if err != nil {
				return err
			}
			tok, err := revokeTokenClaims(&keys, raw)
			if err != nil {
				return err
			}
			verified := !keys.unverified
			o.verified = &verified
			if keys.unverified {
				fmt.Fprintln(cmd.ErrOrStderr(), unverifiedWarning)
			}
			if tok.JTI == "" {
				return errors.New("the token has no jti, so it cannot be revoked alone: revoke its subject or session instead")
			}
			return o.run(cmd, jwtrevoke.KindToken, tok.JTI, func(ctx context.Context, p *publisher.Publisher, ro []publisher.RevokeOption) (publisher.Receipt, error) {
				return p.RevokeToken(ctx, tok, ro...)
			})
		},
	}
	keys.register(c.Flags())
	return c
}

// revokeTokenClaims verifies raw's signature with the configured keys (not
// its times) and returns its claims; with --unverified it only decodes.
func revokeTokenClaims(flags *keyFlags, raw string) (jwtrevoke.Token, error) {
	keys, err := flags.keyring()
	if err != nil {
		return jwtrevoke.Token{}, err
	}
	if flags.unverified {
		return parseUnverified(raw)
	}
	// The agent's Verifier checks times too; here only the signature
	// matters, so the parser runs without claims validation.
	if _, err := verify.New(keys, keys.Algs()); err != nil {
		return jwtrevoke.Token{}, err // refuses "none" and mixed HMAC/public-key algorithms
	}
	tok, err := revokeParser(keys.Algs()).Parse(raw, keyfunc(keys))
	if err != nil {
		return jwtrevoke.Token{}, fmt.Errorf("the token does not verify: %w", err)
	}
	return jwtrevoke.FromJWT(tok)
}

// jtiCmd is `revoke jti <id>`.
func (o *revokeOptions) jtiCmd() *cobra.Command {
	var exp string
	c := &cobra.Command{
		Use:   "jti <id>",
		Short: "Revoke one token by its jti claim",
		Long: `Revoke the token whose jti claim is <id>. With --exp (the token's exp) the
revocation is kept until then plus the publisher's leeway; without it, for
--max-lifetime.`,
		Example: `  jwtrevoke revoke jti 5b1f0c2e-5c1a-4f0e-9d7e-1c0b5e6f7a8b --exp 2026-01-15T10:15:00Z
  jwtrevoke revoke jti 5b1f0c2e --exp 15m --reason "stolen laptop"
  jwtrevoke revoke jti 5b1f0c2e --exp 1768472100     # the exp claim, in Unix seconds`,
		Args: clitool.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseExpiry(exp, time.Now())
			if err != nil {
				return clitool.UsageError(cmd, err)
			}
			return o.run(cmd, jwtrevoke.KindToken, args[0], func(ctx context.Context, p *publisher.Publisher, ro []publisher.RevokeOption) (publisher.Receipt, error) {
				return p.RevokeJTI(ctx, args[0], t, ro...)
			})
		},
	}
	c.Flags().StringVar(&exp, "exp", "", "the token's expiry: RFC 3339, a duration from now (15m) or Unix seconds (default: unknown, kept for --max-lifetime)")
	return c
}

// cutoffCmd is `revoke subject <sub>` and `revoke session <sid>`.
func (o *revokeOptions) cutoffCmd(k jwtrevoke.Kind) *cobra.Command {
	var before string
	name, alias, claim := "subject", "sub", "sub"
	short := "Revoke every token of a subject issued before a cut-off (log out everywhere)"
	example := `  jwtrevoke revoke subject alice --reason "password change"
  jwtrevoke revoke sub user-42 --before 2026-01-15T10:00:00Z --json`
	if k == jwtrevoke.KindSession {
		name, alias, claim = "session", "sid", "sid"
		short = "Revoke every token of a session (refresh-token family) issued before a cut-off"
		example = `  jwtrevoke revoke session 9f3a1c --reason "refresh token reused"
  jwtrevoke revoke sid 9f3a1c --before 2026-01-15T10:00:00.5Z`
	}
	c := &cobra.Command{
		Use:     name + " <" + claim + ">",
		Aliases: []string{alias},
		Short:   short,
		Long: fmt.Sprintf(`Revoke every token whose %s claim is <%s> and whose iat is before the cut-off
(--before, default now). A whole-second iat counts as the start of its second,
so a token issued later within the cut-off's own second is revoked too; see the
README ("Whole-second iat") for how an issuer gives a user who logs straight back
in a working token.`, claim, claim),
		Example: example,
		Args:    clitool.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseCutoff(before, time.Now(), o.g.MaxLifetime)
			if err != nil {
				return clitool.UsageError(cmd, err)
			}
			return o.run(cmd, k, args[0], func(ctx context.Context, p *publisher.Publisher, ro []publisher.RevokeOption) (publisher.Receipt, error) {
				if k == jwtrevoke.KindSession {
					return p.RevokeSession(ctx, args[0], t, ro...)
				}
				return p.RevokeSubject(ctx, args[0], t, ro...)
			})
		},
	}
	c.Flags().StringVar(&before, "before", "now", "the cut-off: tokens issued before it are revoked (RFC 3339, fractions allowed)")
	return c
}

// keyCmd is `revoke key <kid>`.
func (o *revokeOptions) keyCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "key <kid>",
		Aliases: []string{"kid"},
		Short:   "Revoke every token a signing key verifies",
		Long: `Revoke every token that the signing key named <kid> verifies, whenever it was
issued and whatever its header says: for a leaked or retired signing key. A key
is named as serve knows it: --pem NAME=path (or the file name), --hmac-key-id,
its JWKS kid, or for a key without a name its RFC 7638 thumbprint (serve logs
its keys' names at start). Issue new tokens under a new key first.`,
		Example: `  jwtrevoke revoke key signing-2026-01 --reason "key leaked"`,
		Args:    clitool.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, jwtrevoke.KindKey, args[0], func(ctx context.Context, p *publisher.Publisher, ro []publisher.RevokeOption) (publisher.Receipt, error) {
				return p.RevokeKey(ctx, args[0], ro...)
			})
		},
	}
}

// allCmd is `revoke all`.
func (o *revokeOptions) allCmd() *cobra.Command {
	var (
		before string
		force  bool
	)
	c := &cobra.Command{
		Use:   "all",
		Short: "Revoke every token issued before a cut-off: logs out everyone",
		Long: `Revoke every token whose iat is before the cut-off (--before, default now),
whoever it belongs to: every user is logged out and must sign in again. It asks
for confirmation on the terminal; from a script, pass --force (without it, and
without a terminal, it refuses).`,
		Example: `  jwtrevoke revoke all                                   # asks first
  jwtrevoke revoke all --force --reason "incident 42"
  jwtrevoke revoke all --force --before 2026-01-15T10:00:00Z`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseCutoff(before, time.Now(), o.g.MaxLifetime)
			if err != nil {
				return clitool.UsageError(cmd, err)
			}
			if !force {
				when := stamp(t)
				if before == "now" || before == "" {
					when = "now (when you answer)"
				}
				q := fmt.Sprintf("This revokes EVERY token issued before %s on stream %s at %s:\nevery user is logged out.", when, o.g.Stream, clitool.RedactURLs(o.g.ServerURL()))
				if err := confirm(cmd, q); err != nil {
					return fmt.Errorf("revoke all: %w", err)
				}
				if before == "now" || before == "" {
					t = time.Now() // the cut-off is when the operator said yes
				}
			}
			return o.run(cmd, jwtrevoke.KindAll, "", func(ctx context.Context, p *publisher.Publisher, ro []publisher.RevokeOption) (publisher.Receipt, error) {
				return p.RevokeAll(ctx, t, ro...)
			})
		},
	}
	c.Flags().StringVar(&before, "before", "now", "the cut-off: tokens issued before it are revoked (RFC 3339, fractions allowed)")
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return c
}

// revokeFunc publishes one revocation.
type revokeFunc func(ctx context.Context, p *publisher.Publisher, opts []publisher.RevokeOption) (publisher.Receipt, error)

// run connects, builds the publisher, revokes and prints the receipt.
func (o *revokeOptions) run(cmd *cobra.Command, k jwtrevoke.Kind, key string, revoke revokeFunc) error {
	if k != jwtrevoke.KindAll && key == "" {
		return clitool.UsageError(cmd, fmt.Errorf("empty %s: give the %s claim of the tokens to revoke", kindName(k), claimName(k)))
	}
	popts, err := o.publisherOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	nc, err := o.g.Connect(ctx, "jwtrevoke revoke")
	if err != nil {
		return err
	}
	defer nc.Close()
	pub, err := o.publisher(ctx, nc, popts)
	if err != nil {
		return err
	}
	if o.confirm < 0 || o.confirm > 0 && o.confirmIn <= 0 {
		return clitool.UsageError(cmd, fmt.Errorf("--confirm %d --confirm-timeout %v: want a count >= 0 and a positive timeout", o.confirm, o.confirmIn))
	}
	ropts := []publisher.RevokeOption{publisher.Reason(o.reason), publisher.Actor(o.actor)}
	if o.confirm > 0 {
		ropts = append(ropts, publisher.Confirm(o.confirm, o.confirmIn))
	}
	start := time.Now()
	rc, err := revoke(ctx, pub, ropts)
	var ce *publisher.ConfirmError
	if errors.As(err, &ce) {
		if perr := o.print(cmd, k, key, rc); perr != nil {
			return perr
		}
		return fmt.Errorf("revoked %s (sequence %d), but only %d of %d agents reported applying it within %v", describe(k, key), rc.Seq, ce.Got, ce.Want, ce.Within)
	}
	if err != nil {
		return fmt.Errorf("revoking %s: %w", describe(k, key), err)
	}
	o.confirmed = time.Since(start)
	return o.print(cmd, k, key, rc)
}

func (o *revokeOptions) publisherOptions() ([]publisher.Option, error) {
	opts := append([]publisher.Option{
		publisher.WithStream(o.g.Stream),
		publisher.WithCreateStream(o.createStream),
		publisher.WithLogger(o.g.Logger()),
	}, o.g.PublisherContract()...)
	switch {
	case o.signKey == "" && o.signKeyID == "":
	case o.signKey == "" || o.signKeyID == "":
		return nil, clitool.Usage(errors.New("--sign-key and --sign-key-id go together"))
	default:
		key, err := readSigningKey(o.signKey)
		if err != nil {
			return nil, fmt.Errorf("--sign-key: %w", err)
		}
		opts = append(opts, publisher.WithSigner(o.signKeyID, key))
	}
	return opts, nil
}

func (o *revokeOptions) publisher(ctx context.Context, nc *nats.Conn, opts []publisher.Option) (*publisher.Publisher, error) {
	pub, err := publisher.New(ctx, nc, opts...)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %q on %s: %w (start jwtrevoke serve, or pass --create-stream)", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), jetstream.ErrStreamNotFound)
	}
	return pub, o.g.ContractError(err)
}
