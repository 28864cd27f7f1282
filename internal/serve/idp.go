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
}

func (f *idpFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Provider whose back-channel logout tokens /backchannel-logout takes (its keys from discovery unless --oidc-jwks-url)")
	fs.StringVar(&f.jwksURL, "oidc-jwks-url", "", "the provider's JWKS, instead of the jwks_uri of its discovery document")
	fs.StringArrayVar(&f.clientIDs, "oidc-client-id", nil, "client ID a logout token must be addressed to (its aud); repeatable")
	fs.BoolVar(&f.subjectLogout, "backchannel-logout-subject", false, "make every back-channel logout a subject cut-off, for access tokens that carry no sid")
	fs.DurationVar(&f.logoutWindow, "backchannel-logout-window", 5*time.Minute, "how old a logout token's iat may be; its jti is remembered that long against replays")
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
}

// config checks the flags and, when a provider is named and fetch is set,
// finds and fetches its keys (refreshed until ctx ends).
func (f *idpFlags) config(ctx context.Context, log *slog.Logger, fetch bool) (*idpConfig, []error) {
	var bad []error
	c := &idpConfig{issuer: f.issuer, audience: f.clientIDs, subjects: idp.DefaultSubjectMap()}
	if f.issuer != "" {
		c.subjects.Issuers = []string{f.issuer}
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
	if len(bad) > 0 || f.issuer == "" || !fetch {
		return c, bad
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

// idpRoutes adds /backchannel-logout and /global-token-revocation to mux
// and returns their metrics.
func (s *service) idpRoutes(mux *http.ServeMux) ([]prometheus.Collector, error) {
	if s.pub == nil {
		mux.HandleFunc("/backchannel-logout", checkOnly)
		mux.HandleFunc("/global-token-revocation", checkOnly)
		return nil, nil
	}
	var metrics []prometheus.Collector
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
