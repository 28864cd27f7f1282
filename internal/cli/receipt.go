package cli

// What a revoke verb prints: the receipt of the stored event.

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// receipt is a revoke verb's --json output.
type receipt struct {
	// Revoked is false when nothing needed revoking: a token whose exp
	// (plus leeway) has passed.
	Revoked bool `json:"revoked"`
	revocation
	Stream    string `json:"stream"`
	Subject   string `json:"subject"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	MsgID     string `json:"msg_id"`
	Signed    string `json:"signed_by,omitempty"`
	// TokenVerified says, for revoke token, whether the token's signature
	// was checked (false with --unverified).
	TokenVerified *bool  `json:"token_verified,omitempty"`
	Note          string `json:"note,omitempty"`
	// Confirmed is how many agents reported applying the event, under
	// --confirm; ConfirmedMS how long after the call began all of them had.
	Confirmed   int    `json:"confirmed,omitempty"`
	ConfirmedMS *int64 `json:"confirmed_ms,omitempty"`
}

func (o *revokeOptions) print(cmd *cobra.Command, k jwtrevoke.Kind, key string, rc publisher.Receipt) error {
	out := receipt{
		Revoked:       rc.Seq != 0,
		revocation:    newRevocation(rc.Revocation),
		Stream:        o.g.Stream,
		Subject:       jwtrevoke.Subject("", k, key),
		Seq:           rc.Seq,
		Duplicate:     rc.Duplicate,
		MsgID:         rc.MsgID,
		Signed:        o.signKeyID,
		TokenVerified: o.verified,
		Confirmed:     rc.Confirmed,
	}
	if o.confirm > 0 && rc.Confirmed >= o.confirm {
		ms := o.confirmed.Milliseconds()
		out.ConfirmedMS = &ms
	}
	if !out.Revoked {
		out.revocation = revocation{Kind: k, Key: key}
		out.Note = "the token has expired (beyond the leeway): nothing to revoke"
	}
	if o.g.JSON {
		return printJSON(cmd.OutOrStdout(), out)
	}
	w := cmd.OutOrStdout()
	if !out.Revoked {
		_, err := fmt.Fprintf(w, "Nothing to revoke: %s has expired.\n", describe(k, key))
		return err
	}
	fmt.Fprintf(w, "Revoked %s on stream %s\n\n", describe(k, key), out.Stream)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if k.HasCutoff() {
		fmt.Fprintf(tw, "  Issued before:\t%s\n", stamp(out.Before))
	} else {
		fmt.Fprintf(tw, "  Effective:\t%s\n", stamp(out.Before))
	}
	fmt.Fprintf(tw, "  Expires:\t%s\n", stamp(out.Expires))
	if out.Reason != "" {
		fmt.Fprintf(tw, "  Reason:\t%s\n", out.Reason)
	}
	if out.Actor != "" {
		fmt.Fprintf(tw, "  Actor:\t%s\n", out.Actor)
	}
	fmt.Fprintf(tw, "  Sequence:\t%d\n", out.Seq)
	fmt.Fprintf(tw, "  Duplicate:\t%t\n", out.Duplicate)
	fmt.Fprintf(tw, "  Msg ID:\t%s\n", out.MsgID)
	fmt.Fprintf(tw, "  Subject:\t%s\n", out.Subject)
	if out.Signed != "" {
		fmt.Fprintf(tw, "  Signed by:\t%s\n", out.Signed)
	}
	if o.confirm > 0 {
		if out.ConfirmedMS != nil {
			fmt.Fprintf(tw, "  Confirmed:	%d of %d agents applied it, %v after the call began\n", out.Confirmed, o.confirm, o.confirmed.Round(10*time.Microsecond))
		} else {
			fmt.Fprintf(tw, "  Confirmed:	NOT: %d of %d agents reported applying it within %v\n", out.Confirmed, o.confirm, o.confirmIn)
		}
	}
	if out.TokenVerified != nil && !*out.TokenVerified {
		fmt.Fprintf(tw, "  Token:\tNOT verified (--unverified)\n")
	}
	return tw.Flush()
}
