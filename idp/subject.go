package idp

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jwtrevoke/jwtrevoke"
)

// Errors of a subject identifier that cannot be revoked.
var (
	// ErrUnsupportedSubject: a format this receiver does not map to a
	// token claim, or a malformed identifier.
	ErrUnsupportedSubject = errors.New("jwtrevoke/idp: unsupported subject identifier")
	// ErrUnknownIssuer: an iss_sub identifier of an issuer not configured.
	ErrUnknownIssuer = errors.New("jwtrevoke/idp: subject of an unknown issuer")
)

// The subject identifier formats of RFC 9493 and the member holding each
// one's value.
var subjectValue = map[string]string{
	"account":      "uri",
	"email":        "email",
	"iss_sub":      "sub",
	"opaque":       "id",
	"phone_number": "phone_number",
	"did":          "url",
	"uri":          "uri",
}

// SubjectMap says what an RFC 9493 subject identifier names in the tokens
// agents check: for each format, the claim its value equals, "sub" (a
// subject cut-off) or "sid" (a session revocation). A format it does not
// name is refused, never ignored, so the sender knows nothing was revoked.
type SubjectMap struct {
	// Issuers are the iss values an iss_sub identifier may carry.
	Issuers []string
	// Claims maps a format to "sub" or "sid".
	Claims map[string]string
}

// DefaultSubjectMap maps iss_sub (of issuers) and opaque identifiers to
// sub, and nothing else: an email or phone number is the tokens' sub only
// where the provider makes it so, which it must then say.
func DefaultSubjectMap(issuers ...string) SubjectMap {
	return SubjectMap{Issuers: issuers, Claims: map[string]string{"iss_sub": "sub", "opaque": "sub"}}
}

// ParseSubjectClaim reads "format=claim" (email=sub), a command line's way
// of adding to a SubjectMap.
func ParseSubjectClaim(s string) (format, claim string, err error) {
	format, claim, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%w: %q: want format=claim, e.g. email=sub", ErrBadOption, s)
	}
	if _, known := subjectValue[format]; !known {
		return "", "", fmt.Errorf("%w: %q: format %q is not one of %s", ErrBadOption, s, format, strings.Join(formats(), ", "))
	}
	if claim != "sub" && claim != "sid" {
		return "", "", fmt.Errorf("%w: %q: claim %q: want sub or sid", ErrBadOption, s, claim)
	}
	return format, claim, nil
}

func formats() []string {
	var fs []string
	for f := range subjectValue {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return fs
}

// target is one revocation a subject identifier asks for.
type target struct {
	kind jwtrevoke.Kind // KindSubject or KindSession
	key  string
}

// resolve turns a subject identifier (a JSON object) into the revocations
// it names: one, or one per identifier of an aliases identifier that this
// map resolves.
func (m SubjectMap) resolve(raw json.RawMessage) ([]target, error) {
	return m.resolveIn(raw, false)
}

func (m SubjectMap) resolveIn(raw json.RawMessage, inAliases bool) ([]target, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrUnsupportedSubject)
	}
	format, err := member(obj, "format")
	if err != nil {
		return nil, err
	}
	if format == "aliases" {
		if inAliases {
			return nil, fmt.Errorf("%w: aliases inside aliases", ErrUnsupportedSubject)
		}
		var ids []json.RawMessage
		if err := json.Unmarshal(obj["identifiers"], &ids); err != nil || len(ids) == 0 {
			return nil, fmt.Errorf("%w: aliases without an identifiers array", ErrUnsupportedSubject)
		}
		var out []target
		var firstErr error
		for _, id := range ids {
			ts, err := m.resolveIn(id, true)
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			out = append(out, ts...)
		}
		if len(out) == 0 {
			return nil, firstErr
		}
		return out, nil
	}
	field, known := subjectValue[format]
	if !known {
		return nil, fmt.Errorf("%w: format %q", ErrUnsupportedSubject, format)
	}
	value, err := member(obj, field)
	if err != nil {
		return nil, err
	}
	if len(value) > jwtrevoke.MaxKeyLen {
		return nil, fmt.Errorf("%w: a %s of %d bytes", ErrUnsupportedSubject, field, len(value))
	}
	if format == "iss_sub" {
		iss, err := member(obj, "iss")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(m.Issuers, iss) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, iss)
		}
	}
	switch m.Claims[format] {
	case "sub":
		return []target{{jwtrevoke.KindSubject, value}}, nil
	case "sid":
		return []target{{jwtrevoke.KindSession, value}}, nil
	}
	return nil, fmt.Errorf("%w: format %q is not mapped to a token claim here", ErrUnsupportedSubject, format)
}

// cmpErr keeps the more telling of two errors: an unknown issuer over an
// unsupported format.
func cmpErr(old, err error) error {
	if old == nil || errors.Is(err, ErrUnknownIssuer) {
		return err
	}
	return old
}

// member returns the non-empty string member name of obj.
func member(obj map[string]json.RawMessage, name string) (string, error) {
	raw, ok := obj[name]
	if !ok {
		return "", fmt.Errorf("%w: no %q member", ErrUnsupportedSubject, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", fmt.Errorf("%w: %q is not a non-empty string", ErrUnsupportedSubject, name)
	}
	return s, nil
}
