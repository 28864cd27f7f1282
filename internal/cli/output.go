package cli

// How the shell verbs print: JSON for scripts (--json), aligned text for
// people. Times are UTC RFC 3339; cut-offs keep their nanoseconds, since
// "issued before" is compared at that precision.

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// revocation is a revocation as the verbs print it.
type revocation struct {
	Kind    jwtrevoke.Kind `json:"kind"`
	Key     string         `json:"key"`
	Before  time.Time      `json:"before"`
	Expires time.Time      `json:"expires"`
	Issued  time.Time      `json:"issued"`
	Reason  string         `json:"reason,omitempty"`
	Actor   string         `json:"actor,omitempty"`
}

func newRevocation(r jwtrevoke.Revocation) revocation {
	return revocation{
		Kind:    r.Kind,
		Key:     r.Key,
		Before:  r.Before.UTC(),
		Expires: r.Expires.UTC(),
		Issued:  r.Issued.UTC(),
		Reason:  r.Reason,
		Actor:   r.Actor,
	}
}

// tokenInfo is what a check or a revocation read from a JWT.
type tokenInfo struct {
	JTI       string     `json:"jti,omitempty"`
	Subject   string     `json:"sub,omitempty"`
	Session   string     `json:"sid,omitempty"`
	KeyID     string     `json:"kid,omitempty"`
	IssuedAt  *time.Time `json:"iat,omitempty"`
	ExpiresAt *time.Time `json:"exp,omitempty"`
}

func newTokenInfo(t jwtrevoke.Token) tokenInfo {
	j := tokenInfo{JTI: t.JTI, Subject: t.Subject, Session: t.Session, KeyID: t.KeyID}
	if !t.IssuedAt.IsZero() {
		iat := t.IssuedAt.UTC()
		j.IssuedAt = &iat
	}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt.UTC()
		j.ExpiresAt = &exp
	}
	return j
}

// kindName is the long name of a kind, for text output.
func kindName(k jwtrevoke.Kind) string {
	switch k {
	case jwtrevoke.KindToken:
		return "token"
	case jwtrevoke.KindSubject:
		return "subject"
	case jwtrevoke.KindSession:
		return "session"
	case jwtrevoke.KindKey:
		return "signing key"
	case jwtrevoke.KindAll:
		return "all"
	}
	return k.String()
}

// claimName is the JWT claim that carries a kind's key.
func claimName(k jwtrevoke.Kind) string {
	switch k {
	case jwtrevoke.KindToken:
		return "jti"
	case jwtrevoke.KindSubject:
		return "sub"
	case jwtrevoke.KindSession:
		return "sid"
	case jwtrevoke.KindKey:
		return "kid"
	}
	return k.String()
}

// describe names what a revocation matches, for text output:
// `subject "alice"`, `every token`.
func describe(k jwtrevoke.Kind, key string) string {
	if k == jwtrevoke.KindAll {
		return "every token"
	}
	return kindName(k) + " " + strconv.Quote(key)
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // subjects end in ">"
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stamp formats a time for text output at nanosecond precision.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// stampMilli formats a time for text output at millisecond precision.
func stampMilli(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// ago says how long before now t was, rounded for people.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + round(-d).String()
	case d < time.Second:
		return "just now"
	}
	return d.Round(time.Second).String() + " ago"
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	case d < time.Minute:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// millis is a duration in milliseconds, for JSON.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// byteSize formats a byte count.
func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
