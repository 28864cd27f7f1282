package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Metadata is the part of a provider's OpenID Connect Discovery 1.0
// document this package uses.
type Metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// Discover fetches issuer's /.well-known/openid-configuration with client
// (http.DefaultClient when nil) and returns it, refusing a document whose
// issuer is not exactly issuer (Discovery §4.3: anyone else's document
// would hand over their keys) or that names no jwks_uri.
func Discover(ctx context.Context, client *http.Client, issuer string) (Metadata, error) {
	return fetchMetadata(ctx, client, issuer, "/.well-known/openid-configuration", false)
}

// fetchMetadata fetches the metadata document of issuer: at issuer's URL
// with wellKnown appended (OpenID Discovery), or inserted between its host
// and path when insert is set (RFC 8414, SSF 1.0 §7.2).
func fetchMetadata(ctx context.Context, client *http.Client, issuer, wellKnown string, insert bool) (Metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Metadata{}, fmt.Errorf("%w: issuer %q is not an http(s) URL without query or fragment", ErrBadOption, issuer)
	}
	if client == nil {
		client = http.DefaultClient
	}
	doc := strings.TrimSuffix(issuer, "/") + wellKnown
	if insert {
		doc = u.Scheme + "://" + u.Host + wellKnown + strings.TrimSuffix(u.Path, "/")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return Metadata{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Metadata{}, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metadata{}, fmt.Errorf("discovery of %s: status %d", issuer, resp.StatusCode)
	}
	var m Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	if m.Issuer != issuer {
		return Metadata{}, fmt.Errorf("discovery of %s: the document is for issuer %q", issuer, m.Issuer)
	}
	if m.JWKSURI == "" {
		return Metadata{}, fmt.Errorf("discovery of %s: no jwks_uri", issuer)
	}
	return m, nil
}

// SSFMetadata is the part of a transmitter's SSF configuration metadata
// (SSF 1.0 §7.1) this package uses.
type SSFMetadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// DiscoverSSF fetches issuer's /.well-known/ssf-configuration, refusing a
// document for another issuer or without jwks_uri.
func DiscoverSSF(ctx context.Context, client *http.Client, issuer string) (SSFMetadata, error) {
	m, err := fetchMetadata(ctx, client, issuer, "/.well-known/ssf-configuration", true)
	return SSFMetadata(m), err
}
