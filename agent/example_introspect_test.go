package agent_test

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
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// An RFC 7662 endpoint for services that cannot embed an agent: they post a
// token and learn whether it is active, and its claims.
func ExampleNewIntrospectionHandler() {
	dir, err := os.MkdirTemp("", "jwtrevoke-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Port: -1})
	if err != nil {
		log.Fatal(err)
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
	v, err := agent.NewVerifier(agent.Keyfunc(func(*jwt.Token) (any, error) { return secret, nil }), []string{"HS256"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := agent.NewIntrospectionHandler(a, v, agent.WithClientCredentials("billing", "billing-secret"))
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
	// The agent applies it within milliseconds; the minute is only how
	// long a broken setup takes to say so.
	for deadline := time.Now().Add(time.Minute); a.LastApplied() < rc.Seq; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			log.Fatal("the agent did not apply the revocation")
		}
	}
	fmt.Println(introspect(tok))
	// Output:
	// {"active":true,"scope":"invoices:read","token_type":"Bearer","exp":<exp>,"iat":<iat>,"sub":"alice","jti":"4f1c"}
	// {"active":false}
}
