package verify

import (
	"errors"
	"net/http"
	"strings"
)

// TokenExtractor returns the raw token of a request, "" if it has none.
type TokenExtractor func(r *http.Request) (string, error)

// BearerToken extracts the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("authorization header is not Bearer")
	}
	return strings.TrimSpace(tok), nil
}

// CookieToken extracts the token from the named cookie.
func CookieToken(name string) TokenExtractor {
	return func(r *http.Request) (string, error) {
		c, err := r.Cookie(name)
		if errors.Is(err, http.ErrNoCookie) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return c.Value, nil
	}
}
