package oauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// An RFC 7009 endpoint: a client posts a token it wants revoked. A valid
// token is revoked; anything else is answered 200 all the same.
func ExampleNewRevocationHandler() {
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
	v, err := verify.New(keyset.Keyfunc(func(*jwt.Token) (any, error) { return secret, nil }), []string{"HS256"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := oauth.NewRevocationHandler(pub, v, oauth.WithClientCredentials("web-app", "web-app-secret"))
	if err != nil {
		log.Fatal(err)
	}
	api := httptest.NewServer(h)
	defer api.Close()

	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": "4f1c", "sub": "alice", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	}).SignedString(secret)
	for _, token := range []string{tok, "not-a-token"} {
		req, _ := http.NewRequest("POST", api.URL, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web-app", "web-app-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// 200 OK
	// 200 OK
}
