package agent_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// An API replica checks every verified token with its agent; a revocation
// published anywhere reaches it within milliseconds.
func ExampleAgent_Check() {
	// An embedded NATS server for the example; production connects to a
	// cluster.
	dir, err := os.MkdirTemp("", "jwtrevoke-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// An embedded NATS server with JetStream, for the example; in production
	// connect to your cluster instead.
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server did not start")
	}
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}

	// The token of a request, as verified by the JWT middleware.
	tok := jwtrevoke.Token{JTI: "7f3c9a", Subject: "alice", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(15 * time.Minute)}
	r := a.Check(&tok)
	fmt.Printf("before logout: allowed=%v reason=%q\n", r.Allowed, r.Reason())

	rc, err := pub.RevokeToken(ctx, tok, publisher.Reason("logout"))
	if err != nil {
		log.Fatal(err)
	}
	// Propagation takes milliseconds; the minute is only how long a broken
	// setup takes to say so.
	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.WaitApplied(wctx, rc.Seq); err != nil {
		log.Fatal(err)
	}
	r = a.Check(&tok)
	fmt.Printf("after logout: allowed=%v reason=%q kind=%v\n", r.Allowed, r.Reason(), r.Kind)
	// Output:
	// before logout: allowed=true reason=""
	// after logout: allowed=false reason="revoked" kind=jti
}

// Wrap a mux so that every route needs a valid, unrevoked token, and read
// the claims in a handler.
func ExampleMiddleware() {
	dir, err := os.MkdirTemp("", "jwtrevoke-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// An embedded NATS server with JetStream, for the example; in production
	// connect to your cluster instead.
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server did not start")
	}
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := publisher.New(ctx, nc); err != nil { // creates the stream
		log.Fatal(err)
	}
	a, err := agent.New(ctx, nc)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}

	secret := []byte("an HMAC secret of at least 32 bytes!")
	keyfunc := func(*jwt.Token) (any, error) { return secret, nil }
	mw, err := verify.Middleware(a, keyset.Keyfunc(keyfunc), []string{"HS256"})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.ClaimsFromContext[jwt.MapClaims](r.Context())
		fmt.Fprintf(w, "hello %s", claims["sub"])
	})
	api := httptest.NewServer(mw(mux))
	defer api.Close()

	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": "a1b2", "sub": "alice", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	}).SignedString(secret)
	for _, auth := range []string{"", "Bearer " + tok} {
		req, _ := http.NewRequest("GET", api.URL+"/api/whoami", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 401 {"error":"unauthorized","error_description":"no bearer token","reason":"missing"}
	// 200 hello alice
}
