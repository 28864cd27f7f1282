package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// Exit statuses of jwtrevoke check: 1 is only ever a refusal, so a script
// can trust it.
const (
	CheckAllowed = 0 // the token would be accepted
	CheckRefused = 1 // revoked, unknown, stale, or it does not verify
	CheckError   = 2 // no verdict: a usage error (clitool.ExitUsage), bad input, no server, not ready in time
)

type checkOptions struct {
	g       *clitool.Globals
	keys    keyFlags
	trust   []string
	timeout time.Duration
}

// NewCheckCommand returns `jwtrevoke check`, whose exit status is
// CheckAllowed, CheckRefused or CheckError. It reads the global flags from g.
func NewCheckCommand(g *clitool.Globals) *cobra.Command {
	o := &checkOptions{g: g}
	c := &cobra.Command{
		Use:   "check <jwt | ->",
		Short: "Ask a local agent whether a token is revoked",
		Long: `Check starts an agent in this process, as an API replica runs one, waits until
it has replayed the revocation stream (--timeout), and asks it about the token:

  allowed    no live revocation matches, and the agent is fresh
  revoked    a revocation matches (its kind, cut-off and reason are shown)
  unknown    could not be settled (only after the agent's memory budget overflowed)
  stale      the agent has not heard from the server within its staleness bound

The token is verified first as the middleware does (signature, algorithm, exp,
a jti), with --hmac-secret-file, --hmac-secret or --pem; a token that does not
verify is refused with the middleware's reason (invalid, expired, no_jti,
malformed). --unverified only decodes it and says so.

Exit status: 0 allowed, 1 refused, 2 no verdict: a usage error (no token
given, an unknown flag, a bad flag value) or an error (no server, no stream,
not ready within --timeout). A script can trust 1 to mean refused.`,
		Example: `  jwtrevoke check "$JWT" --hmac-secret-file secret.txt
  echo "$JWT" | jwtrevoke check - --pem issuer.pub.pem --json
  jwtrevoke check "$JWT" --unverified && echo "not revoked"`,
		Args: clitool.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := o.run(cmd, args[0])
			if err == nil {
				err = o.print(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "jwtrevoke check:", clitool.ErrorText(err))
				return &clitool.ExitError{Code: CheckError}
			}
			if !rep.Allowed {
				return &clitool.ExitError{Code: CheckRefused}
			}
			return nil
		},
	}
	f := c.Flags()
	o.keys.register(f)
	f.StringArrayVar(&o.trust, "trust-key", nil, "key-id=file: apply only events signed by these ed25519 public keys (repeatable), as agents configured with trusted keys do")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the agent to replay the stream")
	return c
}

// checkReport is the verdict on one token, as check prints it.
type checkReport struct {
	// Verdict is allowed, revoked, unknown, stale or not_ready; or, for a
	// token that does not verify, the middleware's reason: invalid,
	// expired, no_jti, malformed.
	Verdict string `json:"verdict"`
	Allowed bool   `json:"allowed"`
	// Kind and Reason are those of the revocation behind a revoked or
	// unknown verdict.
	Kind       string           `json:"kind,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Revocation *checkRevocation `json:"revocation,omitempty"`
	// Error says why a token did not verify.
	Error string `json:"error,omitempty"`
	// Verified is true when the token's signature and claims verified;
	// false with --unverified or when they did not.
	Verified bool      `json:"verified"`
	Token    tokenInfo `json:"token"`
	Stream   string    `json:"stream"`
	// The agent's state when it answered.
	Ready       bool    `json:"ready"`
	LastApplied uint64  `json:"last_applied_seq"`
	StalenessMS float64 `json:"staleness_ms"`
}

// checkRevocation is the stream's latest event for the key behind a
// revoked verdict.
type checkRevocation struct {
	revocation
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	Signed  string `json:"signed_by,omitempty"`
}

// run verifies the token, starts an agent and checks the token. An error
// means there is no verdict.
func (o *checkOptions) run(cmd *cobra.Command, arg string) (checkReport, error) {
	rep := checkReport{Stream: o.g.Stream, Verified: !o.keys.unverified}
	raw, err := readToken(cmd, arg)
	if err != nil {
		return rep, err
	}
	keys, err := o.keys.keyring()
	if err != nil {
		return rep, err
	}
	trusted, err := parseTrustKeys(o.trust)
	if err != nil {
		return rep, err
	}
	tok, refused, err := o.verifyToken(cmd, raw, keys, &rep)
	if err != nil || refused {
		return rep, err
	}
	rep.Token = newTokenInfo(tok)
	return rep, o.ask(cmd.Context(), tok, trusted, &rep)
}

// verifyToken verifies raw as the middleware does (or with --unverified
// only decodes it) and returns its claims. A token that does not verify is
// refused before any revocation check, as the middleware refuses it: that
// is a verdict, in rep, and refused is true.
func (o *checkOptions) verifyToken(cmd *cobra.Command, raw string, keys *clitool.Keyring, rep *checkReport) (_ jwtrevoke.Token, refused bool, _ error) {
	if o.keys.unverified {
		fmt.Fprintln(cmd.ErrOrStderr(), unverifiedWarning)
		tok, err := parseUnverified(raw)
		return tok, false, err
	}
	v, err := verify.New(keys, keys.Algs())
	if err != nil {
		return jwtrevoke.Token{}, false, err
	}
	_, tok, aerr := v.Verify(raw)
	if aerr != nil {
		// Show what the token claims all the same.
		rep.Verdict, rep.Error, rep.Verified = string(verify.AsError(aerr).Reason), aerr.Error(), false
		if t, err := parseUnverified(raw); err == nil {
			rep.Token = newTokenInfo(t)
		}
		return jwtrevoke.Token{}, true, nil
	}
	return tok, false, nil
}

// ask starts an agent, waits until it has replayed the stream (--timeout)
// and asks it about tok; rep gets the verdict, the agent's state, and for a
// revoked token the event behind it.
func (o *checkOptions) ask(ctx context.Context, tok jwtrevoke.Token, trusted jwtrevoke.KeySet, rep *checkReport) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, err := o.g.Connect(ctx, "jwtrevoke check")
	if err != nil {
		return err
	}
	defer nc.Close()
	aopts := append([]agent.Option{
		agent.WithStream(o.g.Stream),
		agent.WithLogger(o.g.QuietLogger()),
	}, o.g.AgentContract()...)
	if trusted != nil {
		aopts = append(aopts, agent.WithTrustedKeys(trusted))
	}
	a, err := agent.New(ctx, nc, aopts...)
	if err != nil {
		return o.g.ContractError(err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		return fmt.Errorf("%w (raise --timeout?)", err)
	}
	res := a.Check(&tok)
	rep.Allowed = res.Allowed
	rep.Verdict = string(res.Reason())
	if rep.Verdict == "" {
		rep.Verdict = "allowed"
	}
	h := a.Health()
	rep.Ready, rep.LastApplied, rep.StalenessMS = h.Ready, h.LastApplied, millis(h.Staleness)
	if res.Kind.Valid() {
		rep.Kind = res.Kind.String()
		rep.Revocation = o.latestEvent(ctx, nc, a.Contract(), res.Kind, tok, trusted)
		if rep.Revocation != nil {
			rep.Reason = rep.Revocation.Reason
		}
	}
	return nil
}

// latestEvent fetches the stream's latest event for the token's key of
// kind k, to show what revoked it; nil if it cannot be read.
func (o *checkOptions) latestEvent(ctx context.Context, nc *nats.Conn, c jwtrevoke.Contract, k jwtrevoke.Kind, t jwtrevoke.Token, trusted jwtrevoke.KeySet) *checkRevocation {
	key := ""
	switch k {
	case jwtrevoke.KindToken:
		key = t.JTI
	case jwtrevoke.KindSubject:
		key = t.Subject
	case jwtrevoke.KindSession:
		key = t.Session
	case jwtrevoke.KindKey:
		key = t.KeyID
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	st, err := js.Stream(ctx, o.g.Stream)
	if err != nil {
		return nil
	}
	subj := jwtrevoke.Subject(c.SubjectPrefix, k, key)
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return nil
	}
	dec := c.Decoder(trusted)
	r, kid, err := dec.DecodeSigned(m.Data, time.Now())
	if err != nil {
		return nil
	}
	return &checkRevocation{revocation: newRevocation(r), Seq: m.Sequence, Subject: subj, Signed: kid}
}

func (o *checkOptions) print(w io.Writer, rep checkReport) error {
	if o.g.JSON {
		return printJSON(w, rep)
	}
	head := "Token ALLOWED"
	if !rep.Allowed {
		head = "Token REFUSED: " + rep.Verdict
	}
	fmt.Fprintf(w, "%s\n\n", head)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  Verdict:\t%s\n", rep.Verdict)
	if rep.Error != "" {
		fmt.Fprintf(tw, "  Error:\t%s\n", rep.Error)
	}
	if r := rep.Revocation; r != nil {
		fmt.Fprintf(tw, "  Revoked by:\t%s (event %d)\n", describe(r.Kind, r.Key), r.Seq)
		if r.Kind.HasCutoff() {
			fmt.Fprintf(tw, "  Issued before:\t%s\n", stamp(r.Before))
		}
		if r.Reason != "" {
			fmt.Fprintf(tw, "  Reason:\t%s\n", r.Reason)
		}
		if r.Actor != "" {
			fmt.Fprintf(tw, "  Actor:\t%s\n", r.Actor)
		}
		fmt.Fprintf(tw, "  Revoked at:\t%s\n", stamp(r.Issued))
	} else if rep.Kind != "" {
		fmt.Fprintf(tw, "  Kind:\t%s\n", rep.Kind)
	}
	fmt.Fprintf(tw, "  Token:\t%s\n", tokenLine(rep.Token))
	switch {
	case rep.Verified:
		fmt.Fprintf(tw, "  Verified:\tyes\n")
	case rep.Error != "":
		fmt.Fprintf(tw, "  Verified:\tno: it does not verify\n")
	default:
		fmt.Fprintf(tw, "  Verified:\tNO (--unverified)\n")
	}
	if rep.Ready || rep.LastApplied > 0 {
		fmt.Fprintf(tw, "  Agent:\tapplied up to seq %d, fresh as of %s ago\n", rep.LastApplied, round(time.Duration(rep.StalenessMS*float64(time.Millisecond))))
	}
	fmt.Fprintf(tw, "  Stream:\t%s\n", rep.Stream)
	return tw.Flush()
}

// tokenLine summarizes a token's claims on one line.
func tokenLine(t tokenInfo) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("jti", t.JTI)
	add("sub", t.Subject)
	add("sid", t.Session)
	add("kid", t.KeyID)
	if t.IssuedAt != nil {
		add("iat", stamp(*t.IssuedAt))
	}
	if t.ExpiresAt != nil {
		add("exp", stamp(*t.ExpiresAt))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
