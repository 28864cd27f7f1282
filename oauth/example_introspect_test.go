package oauth_test

import (
	"context"
	"fmt"
	"io"
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

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// An RFC 7662 endpoint for services that cannot embed an agent: they post a
// token and learn whether it is active, and its claims.
func ExampleNewIntrospectionHandler() {
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
	ctx := context.Background()
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

	secret := []byte("example-secret-of-32-bytes-long!")
	v, err := verify.New(keyset.Keyfunc(func(*jwt.Token) (any, error) { return secret, nil }), []string{"HS256"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := oauth.NewIntrospectionHandler(a, v, oauth.WithClientCredentials("billing", "billing-secret"))
	if err != nil {
		log.Fatal(err)
	}
	api := httptest.NewServer(h)
	defer api.Close()
	introspect := func(token string) string {
		req, _ := http.NewRequest("POST", api.URL, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("billing", "billing-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}

	iat, exp := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": "4f1c", "sub": "alice", "scope": "invoices:read", "iat": iat.Unix(), "exp": exp.Unix(),
	}).SignedString(secret)
	times := strings.NewReplacer(fmt.Sprint(exp.Unix()), "<exp>", fmt.Sprint(iat.Unix()), "<iat>")
	fmt.Println(times.Replace(introspect(tok)))

	rc, err := pub.RevokeSubject(ctx, "alice", time.Time{})
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
	fmt.Println(introspect(tok))
	// Output:
	// {"active":true,"scope":"invoices:read","token_type":"Bearer","exp":<exp>,"iat":<iat>,"sub":"alice","jti":"4f1c"}
	// {"active":false}
}
