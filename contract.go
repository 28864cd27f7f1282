package jwtrevoke

// The stream's contract: what every publisher and agent of one revocation
// stream must agree on, written once into the stream by the publisher that
// creates it and read from there by everyone else.

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Defaults of the stream's contract, the one definition both sides use.
const (
	// DefaultStream is the name of the revocation stream.
	DefaultStream = "JWTREVOKE"
	// DefaultMaxTokenLifetime is the longest lifetime of a token the
	// issuers mint, unless the contract says otherwise.
	DefaultMaxTokenLifetime = 24 * time.Hour
	// DefaultLeeway is the clock leeway added to every expiry.
	DefaultLeeway = time.Minute
	// RetentionMargin is kept on the stream beyond every event's expiry,
	// so an agent whose clock is behind the publisher's by up to this much
	// still replays an event whose token it would still accept.
	RetentionMargin = 5 * time.Minute
)

// Stream metadata keys of the contract (JetStream stream metadata, a map
// of strings). Durations are whole milliseconds in decimal.
const (
	MetaWireVersion      = "jwtrevoke.wire_version"
	MetaSubjectPrefix    = "jwtrevoke.subject_prefix"
	MetaMaxTokenLifetime = "jwtrevoke.max_token_lifetime_ms"
	MetaLeeway           = "jwtrevoke.leeway_ms"
)

// ErrContract is returned when an option contradicts the contract the
// stream carries, or when the stream's contract cannot be read.
var ErrContract = errors.New("jwtrevoke: the stream's contract")

// Contract is what the publishers and agents of one stream agree on. The
// publisher that creates the stream writes it into the stream's metadata
// (Metadata); every agent, verb and server reads it from there
// (ContractFromMetadata), so no side can assume a limit the other does not
// keep. The zero value is not valid; DefaultContract has the defaults.
type Contract struct {
	WireVersion      int           // wire format version of the events (WireVersion)
	SubjectPrefix    string        // subject prefix of the events
	MaxTokenLifetime time.Duration // longest lifetime of a token the issuers mint
	Leeway           time.Duration // clock leeway added to every expiry
}

// DefaultContract returns the contract of a stream made with every
// default.
func DefaultContract() Contract {
	return Contract{WireVersion: WireVersion, SubjectPrefix: DefaultSubjectPrefix, MaxTokenLifetime: DefaultMaxTokenLifetime, Leeway: DefaultLeeway}
}

// EventLifetime is the longest an event may need remembering: a
// revocation of a token issued at its cut-off lives MaxTokenLifetime, plus
// the leeway, plus the RetentionMargin. A publisher never writes an
// expiry further ahead than now + EventLifetime, the stream's MaxAge is at
// least this, and an agent refuses an event further ahead (past its clock
// skew allowance).
func (c Contract) EventLifetime() time.Duration {
	return c.MaxTokenLifetime + c.Leeway + RetentionMargin
}

// Decoder returns the decoder of this contract's events, trusting keys
// (none: unsigned events are accepted). Publishers and agents decode with
// the same bound.
func (c Contract) Decoder(keys KeySet) Decoder {
	return Decoder{MaxLifetime: c.EventLifetime(), Keys: keys}
}

// Validate reports whether the contract can be kept.
func (c Contract) Validate() error {
	switch {
	case c.WireVersion != WireVersion:
		return fmt.Errorf("%w: wire format version %d, this build reads %d", ErrContract, c.WireVersion, WireVersion)
	case c.SubjectPrefix == "":
		return fmt.Errorf("%w: empty subject prefix", ErrContract)
	case c.MaxTokenLifetime < time.Second:
		return fmt.Errorf("%w: max token lifetime %v", ErrContract, c.MaxTokenLifetime)
	case c.Leeway < 0:
		return fmt.Errorf("%w: negative leeway %v", ErrContract, c.Leeway)
	}
	return nil
}

// Metadata returns the contract as stream metadata.
func (c Contract) Metadata() map[string]string {
	return map[string]string{
		MetaWireVersion:      strconv.Itoa(c.WireVersion),
		MetaSubjectPrefix:    c.SubjectPrefix,
		MetaMaxTokenLifetime: strconv.FormatInt(c.MaxTokenLifetime.Milliseconds(), 10),
		MetaLeeway:           strconv.FormatInt(c.Leeway.Milliseconds(), 10),
	}
}

// ContractFromMetadata reads the contract of a stream's metadata. It
// returns ok false, and no error, when the metadata holds none of the
// contract's keys (a stream made by hand or by an older version); an error
// wrapping ErrContract when it holds some but not all, or a value that
// does not parse or cannot be kept.
func ContractFromMetadata(md map[string]string) (c Contract, ok bool, err error) {
	keys := []string{MetaWireVersion, MetaSubjectPrefix, MetaMaxTokenLifetime, MetaLeeway}
	n := 0
	for _, k := range keys {
		if _, has := md[k]; has {
			n++
		}
	}
	switch n {
	case 0:
		return Contract{}, false, nil
	case len(keys):
	default:
		return Contract{}, false, fmt.Errorf("%w: the stream's metadata holds %d of the %d contract keys %v", ErrContract, n, len(keys), keys)
	}
	v, err := strconv.Atoi(md[MetaWireVersion])
	if err != nil {
		return Contract{}, false, fmt.Errorf("%w: %s %q: %v", ErrContract, MetaWireVersion, md[MetaWireVersion], err)
	}
	ms := func(k string) (time.Duration, error) {
		n, err := strconv.ParseInt(md[k], 10, 64)
		if err != nil || n < 0 || n > int64(100*365*24*time.Hour/time.Millisecond) {
			return 0, fmt.Errorf("%w: %s %q is not a duration in milliseconds", ErrContract, k, md[k])
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	c = Contract{WireVersion: v, SubjectPrefix: md[MetaSubjectPrefix]}
	if c.MaxTokenLifetime, err = ms(MetaMaxTokenLifetime); err != nil {
		return Contract{}, false, err
	}
	if c.Leeway, err = ms(MetaLeeway); err != nil {
		return Contract{}, false, err
	}
	if err := c.Validate(); err != nil {
		return Contract{}, false, err
	}
	return c, true, nil
}

// Conflict returns an error wrapping ErrContract, naming both values, for
// each value of mine that its caller set on purpose (the set… flags) and
// that differs from the stream's contract c; nil if there is none. what
// names the caller's options in the message, such as "agent.With".
func (c Contract) Conflict(mine Contract, setPrefix, setLifetime, setLeeway bool, what string) error {
	var bad []string
	if setPrefix && mine.SubjectPrefix != c.SubjectPrefix {
		bad = append(bad, fmt.Sprintf("%sSubjectPrefix(%q) but the stream's subject prefix is %q", what, mine.SubjectPrefix, c.SubjectPrefix))
	}
	if setLifetime && mine.MaxTokenLifetime != c.MaxTokenLifetime {
		bad = append(bad, fmt.Sprintf("%sMaxTokenLifetime(%v) but the stream's max token lifetime is %v", what, mine.MaxTokenLifetime, c.MaxTokenLifetime))
	}
	if setLeeway && mine.Leeway != c.Leeway {
		bad = append(bad, fmt.Sprintf("%sLeeway(%v) but the stream's leeway is %v", what, mine.Leeway, c.Leeway))
	}
	if len(bad) == 0 {
		return nil
	}
	msg := bad[0]
	for _, b := range bad[1:] {
		msg += "; " + b
	}
	return fmt.Errorf("%w: %s (leave the option out to follow the stream)", ErrContract, msg)
}
