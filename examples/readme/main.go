// Command readme is the README's "Use it from Go": an API replica that
// refuses revoked tokens, with a logout route that revokes them. The
// README shows this file as it is, and a test keeps the two the same.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

func main() {
	ctx := context.Background()
	nc, err := nats.Connect(nats.DefaultURL) // `jwtrevoke demo` or `serve` listens there
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	// Where tokens are revoked. The first publisher creates the stream and
	// writes its contract (max token lifetime, leeway, subject prefix) into
	// it; agents follow it, and an option that contradicts it is refused.
	pub, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour))
	if err != nil {
		log.Fatal(err)
	}

	// In every API replica: replay the stream, then tail it.
	a, err := agent.New(ctx, nc)
	if err != nil {
		log.Fatal(err) // on a NATS without the stream: start a publisher first
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}

	// The issuer's public key, named as key revocations name it; or
	// keyset.NewJWKS(ctx, []string{jwksURL}) for an identity provider's.
	pemBytes, err := os.ReadFile("issuer-public.pem")
	if err != nil {
		log.Fatal(err)
	}
	publicKey, err := jwt.ParseRSAPublicKeyFromPEM(pemBytes)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := keyset.NewStatic(keyset.Key{ID: "2026-01", Key: publicKey})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := verify.Middleware(a, keys, []string{"RS256"}, verify.WithIssuer("https://id.example"))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /api/me", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.ClaimsFromContext[jwt.MapClaims](r.Context())
		_ = json.NewEncoder(w).Encode(claims)
	})))
	mux.Handle("POST /logout", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := verify.FromContext(r.Context())
		// This token and its session (its refresh family). Others:
		// RevokeSubject (log out everywhere), RevokeKey (a leaked signing
		// key), RevokeAll (everything issued so far).
		if _, err := pub.RevokeToken(r.Context(), v.Token, publisher.Reason("logout")); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		rc, err := pub.RevokeSession(r.Context(), v.Token.Session, time.Time{}, publisher.Reason("logout"))
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		// Stored: every replica refuses the token within milliseconds.
		// This one answers only once it has applied the revocation.
		if err := a.WaitApplied(r.Context(), rc.Seq); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		h := a.Health() // ready, and fresh within the staleness bound
		if !h.OK() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", mux))
}
