package publisher_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// A logout handler revokes the token of the request it serves: once
// RevokeToken returns, the revocation is durable and every agent refuses
// the token within milliseconds.
func ExamplePublisher_RevokeToken() {
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

	pub, err := publisher.New(context.Background(), nc, publisher.WithMaxTokenLifetime(time.Hour))
	if err != nil {
		log.Fatal(err)
	}

	secret := []byte("example-secret-of-32-bytes-long!")
	logout := func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		rc, err := pub.RevokeJWT(r.Context(), tok, publisher.Reason("logout"))
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Printf("revoked %s %q at stream sequence %d\n", rc.Revocation.Kind, rc.Revocation.Key, rc.Seq)
		w.WriteHeader(http.StatusNoContent)
	}

	// A request carrying the user's token.
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": "7f3c9a", "sub": "alice",
		"iat": time.Now().Unix(), "exp": time.Now().Add(15 * time.Minute).Unix(),
	}).SignedString(secret)
	req := httptest.NewRequest("POST", "/logout", nil)
	req.Header.Set("Authorization", "Bearer "+signed)
	rec := httptest.NewRecorder()
	logout(rec, req)
	fmt.Println("status", rec.Code)
	// Output:
	// revoked jti "7f3c9a" at stream sequence 1
	// status 204
}
