// Package chirevoke shows jwtrevoke with go-chi/chi: chi takes net/http
// middleware as it is, so verify.Middleware goes straight into r.Use, and
// handlers read the verified claims with verify.ClaimsFromContext.
package chirevoke

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// NewRouter returns an API whose /api routes need a valid, unrevoked
// token, verified with keyfunc (HS256 here; see keyset.NewJWKS for an
// issuer's JWKS) and checked by the agent a.
func NewRouter(a *agent.Agent, keyfunc jwt.Keyfunc, opts ...verify.Option) (http.Handler, error) {
	auth, err := verify.Middleware(a, keyset.Keyfunc(keyfunc), []string{"HS256"}, opts...)
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Get("/livez", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	r.Route("/api", func(r chi.Router) {
		r.Use(auth)
		r.Get("/me", func(w http.ResponseWriter, r *http.Request) {
			claims, _ := verify.ClaimsFromContext[jwt.MapClaims](r.Context())
			sub, _ := claims.GetSubject()
			fmt.Fprintf(w, "hello %s\n", sub)
		})
	})
	return r, nil
}
