package publisher

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
)

// DuplicateWindow is how long the stream remembers message IDs for
// deduplication: longer than any retry loop.
const DuplicateWindow = 2 * time.Minute

// StreamConfig returns the safe configuration of a revocation stream, with
// the stream's contract (prefix, maxLifetime, leeway) in its metadata.
func StreamConfig(name, prefix string, maxLifetime, leeway time.Duration, replicas int) jetstream.StreamConfig {
	contract := jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: prefix, MaxTokenLifetime: maxLifetime, Leeway: leeway}
	return jetstream.StreamConfig{
		Metadata:    contract.Metadata(),
		Name:        name,
		Description: "jwtrevoke revocation log",
		Subjects:    []string{jwtrevoke.SubjectFilter(prefix)},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		// Expired revocations leave by age; nothing else may drop one.
		MaxAge:   contract.EventLifetime(),
		MaxMsgs:  -1,
		MaxBytes: -1,
		// Every event of a key is kept until it expires: with one per key,
		// anyone who may publish could replace a key's valid event with
		// garbage or an older one, and agents that start later would miss
		// it. Agents merge a key's events, the strongest winning.
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		MaxMsgSize:        jwtrevoke.DefaultMaxEventSize,
		Duplicates:        DuplicateWindow,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true, // agents fetch one key's latest event
		AllowMsgTTL:       true, // a token revocation leaves when its token expires
	}
}

// ErrUnsafeStream reports an existing stream whose configuration could
// drop live revocations or break the agents.
var ErrUnsafeStream = errors.New("jwtrevoke/publisher: unsafe revocation stream")

// CheckStream says what, if anything, makes an existing stream unsafe for
// revocations kept maxLifetime+leeway. It returns nil for a safe stream and
// an error wrapping ErrUnsafeStream listing every problem otherwise.
func CheckStream(cfg jetstream.StreamConfig, prefix string, maxLifetime, leeway time.Duration) error {
	var bad []string
	want := jwtrevoke.SubjectFilter(prefix)
	found := false
	for _, s := range cfg.Subjects {
		if s == want {
			found = true
		}
	}
	if !found {
		bad = append(bad, fmt.Sprintf("subjects %v do not include %q (the subject prefix: --subject-prefix, WithSubjectPrefix)", cfg.Subjects, want))
	}
	if c, ok, err := jwtrevoke.ContractFromMetadata(cfg.Metadata); err != nil {
		bad = append(bad, err.Error())
	} else if ok && (c.SubjectPrefix != prefix || c.MaxTokenLifetime != maxLifetime || c.Leeway != leeway) {
		bad = append(bad, fmt.Sprintf("checked for max token lifetime %v, leeway %v, prefix %q, but the stream's contract says %v, %v, %q (leave --max-lifetime / WithMaxTokenLifetime out to follow the stream)",
			maxLifetime, leeway, prefix, c.MaxTokenLifetime, c.Leeway, c.SubjectPrefix))
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < maxLifetime+leeway {
		bad = append(bad, fmt.Sprintf("MaxAge %v is shorter than the max token lifetime %v plus leeway %v: live revocations would expire from the log (raise it to %v: nats stream edit %s --max-age %v)",
			cfg.MaxAge, maxLifetime, leeway, maxLifetime+leeway+jwtrevoke.RetentionMargin, cfg.Name, maxLifetime+leeway+jwtrevoke.RetentionMargin))
	}
	if cfg.MaxMsgs > 0 || cfg.MaxBytes > 0 {
		bad = append(bad, fmt.Sprintf("MaxMsgs %d / MaxBytes %d: a full stream discards or refuses revocations", cfg.MaxMsgs, cfg.MaxBytes))
	}
	if cfg.MaxMsgsPerSubject > 0 {
		bad = append(bad, fmt.Sprintf("MaxMsgsPerSubject %d: a publisher could push a key's valid event out with garbage or older events (nats stream edit %s --max-msgs-per-subject=-1)", cfg.MaxMsgsPerSubject, cfg.Name))
	}
	if cfg.AllowRollup {
		bad = append(bad, fmt.Sprintf("rollups allowed: a Nats-Rollup header would purge a key's events (nats stream edit %s --no-allow-rollup)", cfg.Name))
	}
	if cfg.Storage != jetstream.FileStorage {
		bad = append(bad, "memory storage loses every revocation when the server restarts")
	}
	if cfg.Retention != jetstream.LimitsPolicy {
		bad = append(bad, fmt.Sprintf("retention %v: must be limits (interest or work-queue retention deletes events agents still need)", cfg.Retention))
	}
	if !cfg.DenyDelete || !cfg.DenyPurge {
		bad = append(bad, "deletes and purges must be denied (DenyDelete, DenyPurge)")
	}
	if cfg.Duplicates < 10*time.Second {
		bad = append(bad, fmt.Sprintf("duplicate window %v is too short for retries", cfg.Duplicates))
	}
	if !cfg.AllowDirect {
		bad = append(bad, "AllowDirect is off: agents cannot settle unknown verdicts")
	}
	if cfg.MaxMsgSize > 0 && cfg.MaxMsgSize < jwtrevoke.DefaultMaxEventSize {
		bad = append(bad, fmt.Sprintf("MaxMsgSize %d is below the largest event (%d)", cfg.MaxMsgSize, jwtrevoke.DefaultMaxEventSize))
	}
	if cfg.Sealed {
		bad = append(bad, "the stream is sealed")
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrUnsafeStream, cfg.Name, strings.Join(bad, "; "))
}
