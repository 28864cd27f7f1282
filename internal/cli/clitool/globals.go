package clitool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
)

// Globals are the flags every verb shares. The NATS ones are named as in
// the nats CLI where they mean the same thing. Flag parsing fills them in;
// after that they are only read, and their methods are safe for use by
// multiple goroutines.
type Globals struct {
	Server      string // --server; "" for NATS_URL or DefaultServer (see ServerURL)
	Creds       string
	TLSCert     string
	TLSKey      string
	TLSCA       string
	Stream      string
	MaxLifetime time.Duration // --max-lifetime; 0 follows the stream's contract
	Prefix      string        // --subject-prefix; "" follows the stream's contract
	HubDomain   string        // --hub-domain; "" writes to the connected server's stream
	JSON        bool          // --json
	Verbose     bool
}

// Register adds the flags to c as persistent flags, for c and every verb
// under it.
func (g *Globals) Register(c *cobra.Command) {
	f := c.PersistentFlags()
	f.StringVarP(&g.Server, "server", "s", "", "NATS server URLs, comma separated (default: env NATS_URL, else "+DefaultServer+"); without --server, demo starts an embedded server, and so does serve when NATS_URL is unset too")
	f.StringVar(&g.Creds, "creds", os.Getenv("NATS_CREDS"), "NATS user credentials file (env NATS_CREDS)")
	f.StringVar(&g.TLSCert, "tlscert", "", "TLS client certificate file")
	f.StringVar(&g.TLSKey, "tlskey", "", "TLS client private key file")
	f.StringVar(&g.TLSCA, "tlsca", "", "TLS certificate authority file to verify the server")
	f.StringVar(&g.Stream, "stream", jwtrevoke.DefaultStream, "revocation stream name")
	f.DurationVar(&g.MaxLifetime, "max-lifetime", 0, "longest lifetime of a token the issuers mint; part of the stream's contract, which the publisher that creates the stream writes into it (default: the stream's contract; 24h for a new stream)")
	f.StringVar(&g.Prefix, "subject-prefix", "", "subject prefix of the revocation events, part of the stream's contract like --max-lifetime; a second revocation stream on the same NATS needs one that does not overlap the first's, such as staging.jwtrevoke.v1 beside jwtrevoke.v1 (default: the stream's contract; "+jwtrevoke.DefaultSubjectPrefix+" for a new stream)")
	f.StringVar(&g.HubDomain, "hub-domain", "", "JetStream domain of the hub, whose stream takes the revocations, for verbs connected to a region's leaf node (revoke and serve write there; agents, check and watch read the stream of the server they connect to, the region's mirror; mirror makes that mirror, of domain "+region.DefaultHubDomain+" when this is empty)")
	f.BoolVarP(&g.JSON, "json", "j", false, "print JSON instead of text")
	f.BoolVarP(&g.Verbose, "verbose", "v", false, "log debug detail to stderr")
}

// AgentContract returns the agent options of the contract flags: none
// unless --max-lifetime or --subject-prefix was given, so the agent
// follows the stream.
func (g *Globals) AgentContract() []agent.Option {
	var opts []agent.Option
	if g.MaxLifetime != 0 {
		opts = append(opts, agent.WithMaxTokenLifetime(g.MaxLifetime))
	}
	if g.Prefix != "" {
		opts = append(opts, agent.WithSubjectPrefix(g.Prefix))
	}
	return opts
}

// PublisherContract is AgentContract for a publisher: a new stream gets
// --max-lifetime (or the default), an existing one is followed; with
// --hub-domain, the stream is the hub's.
func (g *Globals) PublisherContract() []publisher.Option {
	var opts []publisher.Option
	if g.HubDomain != "" {
		opts = append(opts, publisher.WithDomain(g.HubDomain))
	}
	if g.MaxLifetime != 0 {
		opts = append(opts, publisher.WithMaxTokenLifetime(g.MaxLifetime))
	}
	if g.Prefix != "" {
		opts = append(opts, publisher.WithSubjectPrefix(g.Prefix))
	}
	return opts
}

// StreamContract returns the contract of the stream configured as sc: the
// one in its metadata, which --max-lifetime and --subject-prefix may not
// contradict, or for a stream without one the flags' (and defaults').
func (g *Globals) StreamContract(sc jetstream.StreamConfig) (c jwtrevoke.Contract, fromStream bool, err error) {
	c, ok, err := jwtrevoke.ContractFromMetadata(sc.Metadata)
	if err != nil {
		return c, false, fmt.Errorf("stream %q: %w", sc.Name, err)
	}
	if !ok {
		c = jwtrevoke.DefaultContract()
		if g.MaxLifetime != 0 {
			c.MaxTokenLifetime = g.MaxLifetime
		}
		if g.Prefix != "" {
			c.SubjectPrefix = g.Prefix
		}
		return c, false, nil
	}
	if g.Prefix != "" && g.Prefix != c.SubjectPrefix {
		return c, true, fmt.Errorf("%w: --subject-prefix %s, but the stream %q says %s (leave --subject-prefix out to follow the stream)", jwtrevoke.ErrContract, g.Prefix, sc.Name, c.SubjectPrefix)
	}
	if g.MaxLifetime != 0 && g.MaxLifetime != c.MaxTokenLifetime {
		return c, true, fmt.Errorf("%w: --max-lifetime %v, but the stream %q says %v (leave --max-lifetime out to follow the stream)", jwtrevoke.ErrContract, g.MaxLifetime, sc.Name, c.MaxTokenLifetime)
	}
	return c, true, nil
}

// ContractError names --max-lifetime and --subject-prefix in an error of
// a publisher or agent that refused them as contradicting the stream's
// contract, and says what to do when a new stream's subjects overlap
// another's. Any other error, nil included, is returned as it is.
func (g *Globals) ContractError(err error) error {
	switch {
	case errors.Is(err, jwtrevoke.ErrContract) && g.MaxLifetime != 0 && g.Prefix != "":
		return fmt.Errorf("--max-lifetime %v, --subject-prefix %s: %w", g.MaxLifetime, g.Prefix, err)
	case errors.Is(err, jwtrevoke.ErrContract) && g.MaxLifetime != 0:
		return fmt.Errorf("--max-lifetime %v: %w", g.MaxLifetime, err)
	case errors.Is(err, jwtrevoke.ErrContract) && g.Prefix != "":
		return fmt.Errorf("--subject-prefix %s: %w", g.Prefix, err)
	}
	return g.streamOverlap(err)
}

// streamOverlap explains the server's refusal to create a second
// revocation stream whose subjects overlap the first's: it needs a subject
// prefix of its own.
func (g *Globals) streamOverlap(err error) error {
	const streamSubjectOverlap = 10065 // nats-server's JSStreamSubjectOverlapErr
	var api *jetstream.APIError
	if !errors.As(err, &api) || api.ErrorCode != streamSubjectOverlap {
		return err
	}
	prefix := g.Prefix
	if prefix == "" {
		prefix = jwtrevoke.DefaultSubjectPrefix
	}
	return fmt.Errorf("%w: another stream on this server already takes the subjects %s, so stream %q needs its own: give it --subject-prefix (e.g. --subject-prefix %s.%s), and the same --stream and --subject-prefix to every verb, serve and agent that uses it",
		err, jwtrevoke.SubjectFilter(prefix), g.Stream, strings.ToLower(g.Stream), jwtrevoke.DefaultSubjectPrefix)
}

// Logger logs text to stderr: info and up, debug too with --verbose.
func (g *Globals) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: g.level()}))
}

// JSONLogger is Logger as JSON lines with --json, for a service whose log
// a machine reads; without --json it is Logger.
func (g *Globals) JSONLogger() *slog.Logger {
	if !g.JSON {
		return g.Logger()
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: g.level()}))
}

// QuietLogger logs warnings (or everything, with --verbose) to stderr: an
// agent's progress lines are noise in a one-shot command.
func (g *Globals) QuietLogger() *slog.Logger {
	if g.Verbose {
		return g.Logger()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (g *Globals) level() slog.Level {
	if g.Verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
