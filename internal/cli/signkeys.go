package cli

// The ed25519 keys that sign or verify revocation events: revoke
// --sign-key, and watch and check --trust-key.

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// readSigningKey reads an ed25519 private key: PEM (PKCS#8 "PRIVATE KEY",
// as `openssl genpkey -algorithm ed25519` writes), or a 32-byte seed or
// 64-byte private key as hex, base64 or raw bytes.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s: PEM block %q: want an ed25519 PKCS#8 PRIVATE KEY", path, b.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, not an ed25519 key", path, k)
		}
		return priv, nil
	}
	raw, err := keyBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(raw)) {
			return nil, fmt.Errorf("%s: the 64-byte key's public half does not match its seed", path)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%s: %d bytes: want a 32-byte ed25519 seed or a 64-byte private key", path, len(raw))
}

// readTrustKey reads an ed25519 public key: PEM (PKIX "PUBLIC KEY", or a
// private key, whose public half is used), or 32 bytes as hex, base64 or
// raw bytes.
func readTrustKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type == "PRIVATE KEY" {
			priv, err := readSigningKey(path)
			if err != nil {
				return nil, err
			}
			return priv.Public().(ed25519.PublicKey), nil
		}
		k, err := clitool.PEMPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: PEM block %q is not an ed25519 public key", path, b.Type)
		}
		return pub, nil
	}
	raw, err := keyBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: %d bytes: want a 32-byte ed25519 public key", path, len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// keyBytes decodes key material written as hex or base64 (standard or URL
// alphabet, padded or not), or taken as raw bytes when it is exactly 32 or
// 64 bytes long.
func keyBytes(data []byte) ([]byte, error) {
	text := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(text); err == nil && len(b) > 0 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	if n := len(data); n == 32 || n == 64 {
		return data, nil
	}
	return nil, errors.New("not a key: want PEM, hex, base64 or raw bytes")
}

// parseTrustKeys turns --trust-key kid=file flags into a KeySet.
func parseTrustKeys(specs []string) (jwtrevoke.KeySet, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	ks := jwtrevoke.KeySet{}
	for _, s := range specs {
		kid, path, ok := strings.Cut(s, "=")
		if !ok || kid == "" || path == "" {
			return nil, fmt.Errorf("--trust-key %q: want key-id=file", s)
		}
		if len(kid) > jwtrevoke.MaxKeyIDLen {
			return nil, fmt.Errorf("--trust-key %q: key ID longer than %d bytes", s, jwtrevoke.MaxKeyIDLen)
		}
		if _, dup := ks[kid]; dup {
			return nil, fmt.Errorf("--trust-key: key ID %q given twice", kid)
		}
		pub, err := readTrustKey(path)
		if err != nil {
			return nil, fmt.Errorf("--trust-key %s: %w", kid, err)
		}
		ks[kid] = pub
	}
	return ks, nil
}
