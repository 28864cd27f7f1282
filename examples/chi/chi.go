// Package chirevoke shows jwtrevoke with go-chi/chi: chi takes net/http
// middleware as it is, so agent.Middleware goes straight into r.Use, and
// handlers read the verified claims with agent.ClaimsFromContext.
package chirevoke

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/agent"
)

// NewRouter returns an API whose /api routes need a valid, unrevoked
// token, verified with keyfunc (HS256 here; see agent.NewJWKS for an
// issuer's JWKS) and checked by the agent a.
func NewRouter(a *agent.Agent, keyfunc jwt.Keyfunc, opts ...agent.MiddlewareOption) (http.Handler, error) {
	auth, err := agent.Middleware(a, agent.Keyfunc(keyfunc), []string{"HS256"}, opts...)
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Get("/livez", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	r.Route("/api", func(r chi.Router) {
		r.Use(auth)
		r.Get("/me", func(w http.ResponseWriter, r *http.Request) {
			claims, _ := agent.ClaimsFromContext[jwt.MapClaims](r.Context())
			sub, _ := claims.GetSubject()
			fmt.Fprintf(w, "hello %s\n", sub)
		})
	})
	return r, nil
}
