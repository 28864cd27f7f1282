package serve

// Identity providers in: /backchannel-logout (--oidc-issuer,
// --oidc-client-id) and /global-token-revocation (the admin token).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/jwtrevoke/jwtrevoke/idp"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// idpFlags are the flags of the identity-provider routes.
type idpFlags struct {
	issuer        string
	jwksURL       string
	clientIDs     []string
	subjectLogout bool
	logoutWindow  time.Duration
	subjectClaims []string

	ssfIssuer       string
	ssfJWKSURL      string
	ssfAudience     []string
	ssfPushToken    string
	ssfPollURL      string
	ssfPollToken    string
	ssfPollInterval time.Duration
}

func (f *idpFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Provider whose back-channel logout tokens /backchannel-logout takes (its keys from discovery unless --oidc-jwks-url)")
	fs.StringVar(&f.jwksURL, "oidc-jwks-url", "", "the provider's JWKS, instead of the jwks_uri of its discovery document")
	fs.StringArrayVar(&f.clientIDs, "oidc-client-id", nil, "client ID a logout token must be addressed to (its aud); repeatable")
	fs.BoolVar(&f.subjectLogout, "backchannel-logout-subject", false, "make every back-channel logout a subject cut-off, for access tokens that carry no sid")
	fs.DurationVar(&f.logoutWindow, "backchannel-logout-window", 5*time.Minute, "how old a logout token's iat may be; its jti is remembered that long against replays")
	fs.StringVar(&f.ssfIssuer, "ssf-issuer", "", "Shared Signals transmitter whose SETs serve takes (at /ssf/events, or by --ssf-poll-url); its keys from --ssf-jwks-url, or its /.well-known/ssf-configuration")
	fs.StringVar(&f.ssfJWKSURL, "ssf-jwks-url", "", "the transmitter's JWKS")
	fs.StringArrayVar(&f.ssfAudience, "ssf-audience", nil, "the aud the transmitter's stream gives its SETs; repeatable")
	fs.StringVar(&f.ssfPushToken, "ssf-push-token", "", "bearer token the transmitter must send with pushed SETs (env JWTREVOKE_SSF_PUSH_TOKEN); without it /ssf/events takes no pushes")
	fs.StringVar(&f.ssfPollURL, "ssf-poll-url", "", "the transmitter's poll endpoint (RFC 8936), polled instead of or besides pushes")
	fs.StringVar(&f.ssfPollToken, "ssf-poll-token", "", "bearer token for --ssf-poll-url (env JWTREVOKE_SSF_POLL_TOKEN)")
	fs.DurationVar(&f.ssfPollInterval, "ssf-poll-interval", 5*time.Second, "how often to poll when the transmitter has nothing waiting")
	fs.StringArrayVar(&f.subjectClaims, "subject-claim", nil, "map an RFC 9493 subject identifier format to the token claim it equals, format=sub or format=sid (email=sub); repeatable; iss_sub and opaque map to sub by default")
}

// idpConfig is what the flags, checked, say.
type idpConfig struct {
	logout   bool // /backchannel-logout is served
	issuer   string
	audience []string
	keys     keyset.Set
	opts     []idp.LogoutOption
	subjects idp.SubjectMap

	ssf          bool // SETs are taken
	ssfIssuer    string
	ssfAudience  []string
	ssfKeys      keyset.Set
	ssfOpts      []idp.SETOption
	ssfPush      bool
	pollURL      string
	pollToken    string
	pollInterval time.Duration
}

// config checks the flags and, when a provider is named and fetch is set,
// finds and fetches its keys (refreshed until ctx ends).
func (f *idpFlags) config(ctx context.Context, log *slog.Logger, fetch bool) (*idpConfig, []error) {
	var bad []error
	c := &idpConfig{issuer: f.issuer, audience: f.clientIDs, subjects: idp.DefaultSubjectMap()}
	for _, iss := range []string{f.issuer, f.ssfIssuer} {
		if iss != "" {
			c.subjects.Issuers = append(c.subjects.Issuers, iss)
		}
	}
	if f.ssfPushToken == "" {
		f.ssfPushToken = os.Getenv("JWTREVOKE_SSF_PUSH_TOKEN")
	}
	if f.ssfPollToken == "" {
		f.ssfPollToken = os.Getenv("JWTREVOKE_SSF_POLL_TOKEN")
	}
	switch {
	case f.ssfIssuer == "" && (f.ssfJWKSURL != "" || len(f.ssfAudience) > 0 || f.ssfPushToken != "" || f.ssfPollURL != ""):
		bad = append(bad, errors.New("the --ssf-… flags need --ssf-issuer"))
	case f.ssfIssuer != "" && len(f.ssfAudience) == 0:
		bad = append(bad, errors.New("--ssf-issuer needs --ssf-audience: the aud of the transmitter's SETs"))
	case f.ssfIssuer != "" && f.ssfPushToken == "" && f.ssfPollURL == "":
		bad = append(bad, errors.New("--ssf-issuer needs --ssf-push-token (to take pushed SETs) or --ssf-poll-url (to poll for them)"))
	case f.ssfPushToken != "" && len(f.ssfPushToken) < minSecretBytes:
		bad = append(bad, fmt.Errorf("--ssf-push-token: at least %d bytes", minSecretBytes))
	case f.ssfPollInterval <= 0:
		bad = append(bad, fmt.Errorf("--ssf-poll-interval %v: want a positive interval", f.ssfPollInterval))
	}
	for _, s := range f.subjectClaims {
		format, claim, err := idp.ParseSubjectClaim(s)
		if err != nil {
			bad = append(bad, fmt.Errorf("--subject-claim: %w", err))
			continue
		}
		c.subjects.Claims[format] = claim
	}
	switch {
	case f.issuer == "" && (len(f.clientIDs) > 0 || f.jwksURL != ""):
		bad = append(bad, errors.New("--oidc-client-id and --oidc-jwks-url need --oidc-issuer"))
	case f.issuer != "" && len(f.clientIDs) == 0:
		bad = append(bad, errors.New("--oidc-issuer needs --oidc-client-id: the client ID logout tokens are addressed to"))
	}
	if len(bad) > 0 || !fetch {
		return c, bad
	}
	if f.ssfIssuer != "" {
		if err := f.ssfConfig(ctx, log, c); err != nil {
			return c, []error{err}
		}
	}
	if f.issuer == "" {
		return c, nil
	}
	c.opts = append(c.opts, idp.WithLogoutLogger(log))
	if f.subjectLogout {
		c.opts = append(c.opts, idp.WithSubjectLogout())
	}
	if f.logoutWindow != 5*time.Minute {
		c.opts = append(c.opts, idp.WithIssuedAtWindow(f.logoutWindow))
	}
	jwksURL := f.jwksURL
	if jwksURL == "" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := idp.Discover(dctx, nil, f.issuer)
		cancel()
		if err != nil {
			return c, []error{fmt.Errorf("--oidc-issuer: %w", err)}
		}
		jwksURL = m.JWKSURI
	}
	jwks, err := keyset.NewJWKS(ctx, []string{jwksURL},
		keyset.WithUnknownKID(time.Minute, 2*time.Second),
		keyset.WithLogger(log))
	if err != nil {
		return c, []error{fmt.Errorf("the provider's keys (%s): %w", jwksURL, err)}
	}
	context.AfterFunc(ctx, func() { jwks.Close() })
	c.keys, c.logout = jwks, true
	return c, nil
}

// ssfConfig finds and fetches the transmitter's keys.
func (f *idpFlags) ssfConfig(ctx context.Context, log *slog.Logger, c *idpConfig) error {
	jwksURL := f.ssfJWKSURL
	if jwksURL == "" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := idp.DiscoverSSF(dctx, nil, f.ssfIssuer)
		cancel()
		if err != nil {
			return fmt.Errorf("--ssf-issuer: %w (or give --ssf-jwks-url)", err)
		}
		jwksURL = m.JWKSURI
	}
	jwks, err := keyset.NewJWKS(ctx, []string{jwksURL}, keyset.WithUnknownKID(time.Minute, 2*time.Second), keyset.WithLogger(log))
	if err != nil {
		return fmt.Errorf("the transmitter's keys (%s): %w", jwksURL, err)
	}
	context.AfterFunc(ctx, func() { jwks.Close() })
	c.ssf, c.ssfKeys, c.ssfIssuer, c.ssfAudience = true, jwks, f.ssfIssuer, f.ssfAudience
	c.pollURL, c.pollToken, c.pollInterval = f.ssfPollURL, f.ssfPollToken, f.ssfPollInterval
	c.ssfOpts = append(c.ssfOpts, idp.WithSETLogger(log))
	if f.ssfPushToken != "" {
		c.ssfPush = true
		c.ssfOpts = append(c.ssfOpts, idp.WithPushToken(f.ssfPushToken))
	}
	return nil
}

// idpRoutes adds /backchannel-logout and /global-token-revocation to mux
// and returns their metrics.
func (s *service) idpRoutes(mux *http.ServeMux) ([]prometheus.Collector, error) {
	if s.pub == nil {
		mux.HandleFunc("/backchannel-logout", checkOnly)
		mux.HandleFunc("/global-token-revocation", checkOnly)
		mux.HandleFunc("/ssf/events", checkOnly)
		return nil, nil
	}
	var metrics []prometheus.Collector
	if c := s.idp; c != nil && c.ssf {
		r, err := idp.NewSETReceiver(s.pub, c.ssfKeys, c.ssfIssuer, c.ssfAudience, c.subjects, c.ssfOpts...)
		if err != nil {
			return nil, err
		}
		s.sets = r
		if c.ssfPush {
			mux.Handle("/ssf/events", r)
		} else {
			mux.HandleFunc("/ssf/events", func(w http.ResponseWriter, _ *http.Request) {
				httpjson.Error(w, http.StatusNotFound, "not_found", "pushed SETs are off: start serve with --ssf-push-token")
			})
		}
		metrics = append(metrics, r.Collector())
	} else {
		mux.HandleFunc("/ssf/events", func(w http.ResponseWriter, _ *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "not_found", "Shared Signals are off: start serve with --ssf-issuer")
		})
	}
	if c := s.idp; c != nil && c.logout {
		h, err := idp.NewBackchannelLogout(s.pub, c.keys, c.issuer, c.audience, c.opts...)
		if err != nil {
			return nil, err
		}
		mux.Handle("/backchannel-logout", h)
		metrics = append(metrics, h.Collector())
	} else {
		mux.HandleFunc("/backchannel-logout", func(w http.ResponseWriter, _ *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "not_found", "back-channel logout is off: start serve with --oidc-issuer and --oidc-client-id")
		})
	}
	subjects := idp.DefaultSubjectMap()
	if s.idp != nil {
		subjects = s.idp.subjects
	}
	gtr, err := idp.NewGlobalTokenRevocation(s.pub, subjects, s.isAdmin, nil, s.log)
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("/global-token-revocation", func(w http.ResponseWriter, r *http.Request) {
		if s.adminToken == "" {
			httpjson.Error(w, http.StatusNotFound, "not_found", "global token revocation is authenticated with the admin token: start serve with --admin-token")
			return
		}
		gtr.ServeHTTP(w, r)
	})
	return append(metrics, gtr.Collector()), nil
}

// isAdmin reports whether r carries the admin token as a bearer token,
// compared in constant time.
func (s *service) isAdmin(r *http.Request) bool {
	if s.adminToken == "" {
		return false
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	want, got := sha256.Sum256([]byte(s.adminToken)), sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
