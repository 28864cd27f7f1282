package idp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/idp"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

const (
	transmitter = "https://idp.example.com/123456789/"
	receiverAud = "https://sp.example.com/caep"
	pushToken   = "push-token-of-the-stream-0123456789"
)

// The specs' own example events (CAEP 1.0 §3.1 and §3.2, RISC 1.0 §2.6,
// SSF 1.0's complex subject), as JSON; the test stamps iat (and
// event_timestamp) with the current time, since the examples' dates are
// years outside any acceptance window, and signs them.
var specSETs = map[string]string{
	"caep session-revoked, opaque subject": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "24c63fb56e5a2d77a6b512616ca9fa24", "iat": 1615305159,
	  "aud": "https://sp.example.com/caep", "txn": 8675309,
	  "sub_id": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
	  "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"event_timestamp": 1615304991643}}}`,
	"caep session-revoked, complex subject": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "24c63fb56e5a2d77a6b512616ca9fa25", "iat": 1615305159,
	  "aud": "https://sp.example.com/caep",
	  "sub_id": {"format": "complex",
	    "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
	    "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "dMTlD|1600802906337.16|16008.16"},
	    "tenant": {"format": "opaque", "id": "123456789"}},
	  "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
	    "initiating_entity": "policy", "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
	    "reason_user": {"en": "Access attempt from multiple regions."}, "event_timestamp": 1615304991643}}}`,
	"caep credential-change": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "07efd930f0977e4fcc1149a733ce7f78", "iat": 1615305159,
	  "aud": "https://sp.example.com/caep", "txn": 8675309,
	  "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "jane.smith@example.com"},
	  "events": {"https://schemas.openid.net/secevent/caep/event-type/credential-change": {
	    "credential_type": "fido2-roaming", "change_type": "create", "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
	    "friendly_name": "Jane's USB authenticator", "initiating_entity": "user", "reason_admin": {"en": "User self-enrollment"},
	    "event_timestamp": 1615304991643}}}`,
	"risc account-disabled": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "756E69717565206964656E746966696572", "iat": 1508184845,
	  "aud": "https://sp.example.com/caep",
	  "events": {"https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
	    "subject": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "7375626A656374"}, "reason": "hijacking"}}}`,
	"risc sessions-revoked, email subject": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "756E69717565206964656E746966696573", "iat": 1508184845,
	  "aud": "https://sp.example.com/caep",
	  "events": {"https://schemas.openid.net/secevent/risc/event-type/sessions-revoked": {
	    "subject": {"format": "email", "email": "foo@example.com"}}}}`,
	"ssf verification": `{
	  "iss": "https://idp.example.com/123456789/", "jti": "123456", "iat": 1493856000, "aud": "https://sp.example.com/caep",
	  "sub_id": {"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"},
	  "events": {"https://schemas.openid.net/secevent/ssf/event-type/verification": {"state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="}}}`,
}

// what each example must revoke: kind and key, or nothing.
var specWants = map[string][2]string{
	"caep session-revoked, opaque subject":  {"sub", "dMTlD|1600802906337.16|16008.16"},
	"caep session-revoked, complex subject": {"sid", "dMTlD|1600802906337.16|16008.16"},
	"caep credential-change":                {"sub", "jane.smith@example.com"},
	"risc account-disabled":                 {"sub", "7375626A656374"},
	"risc sessions-revoked, email subject":  {"sub", "foo@example.com"},
	"ssf verification":                      {},
}

type txKey struct {
	key  *rsa.PrivateKey
	keys keyset.Set
}

func newTxKey(t *testing.T, bits int) *txKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keyset.NewStatic(keyset.Key{ID: "tx-1", Key: &k.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return &txKey{key: k, keys: ks}
}

// set signs the JSON claims js, restamped at now, as a SET.
func (k *txKey) set(t *testing.T, js string, now time.Time, mod func(jwt.MapClaims), header map[string]any) string {
	t.Helper()
	var c jwt.MapClaims
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	c["iat"] = now.Unix()
	if evs, ok := c["events"].(map[string]any); ok {
		for _, ev := range evs {
			if body, ok := ev.(map[string]any); ok {
				if _, ok := body["event_timestamp"]; ok {
					body["event_timestamp"] = now.Add(-30 * time.Second).UnixMilli() // ms, as the examples write it
				}
			}
		}
	}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "tx-1"
	tok.Header["typ"] = "secevent+jwt"
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type ssfEnv struct {
	*logoutEnv
	tx  *txKey
	r   *idp.SETReceiver
	url string
}

func newSSFEnv(t *testing.T) *ssfEnv {
	t.Helper()
	e := &ssfEnv{logoutEnv: newLogoutEnv(t), tx: newTxKey(t, 2048)}
	subjects := idp.DefaultSubjectMap(transmitter)
	subjects.Claims["email"] = "sub"
	var err error
	if e.r, err = idp.NewSETReceiver(e.pub, e.tx.keys, transmitter, []string{receiverAud}, subjects, idp.WithPushToken(pushToken)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.r)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *ssfEnv) push(t *testing.T, auth, ct, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestSSFPushSpecExamples: each of the specs' example events, pushed,
// revokes what it names (and the verification event nothing); earlier
// tokens of that subject or session are refused, others pass.
func TestSSFPushSpecExamples(t *testing.T) {
	e := newSSFEnv(t)
	for name, js := range specSETs {
		t.Run(name, func(t *testing.T) {
			now := time.Now()
			before := e.seqs()
			if st, body := e.push(t, pushToken, "application/secevent+jwt", e.tx.set(t, js, now, nil, nil)); st != 202 {
				t.Fatalf("push: %d %v, want 202", st, body)
			}
			want := specWants[name]
			if want[0] == "" {
				if e.seqs() != before {
					t.Error("the verification event revoked something")
				}
				return
			}
			testkit.WaitApplied(t, e.a, e.seqs())
			earlier := now.Add(-time.Minute)
			tok := accessToken("at", want[1], "", earlier)
			other := accessToken("at", "someone-else", "", earlier)
			if want[0] == "sid" {
				tok, other = accessToken("at", "u", want[1], earlier), accessToken("at", "u", "another-session", earlier)
			}
			if e.a.Check(tok).Allowed {
				t.Errorf("a token of the %s %q issued before the event passes", want[0], want[1])
			}
			if !e.a.Check(other).Allowed {
				t.Error("an unnamed token is refused")
			}
			if name == "caep credential-change" {
				// Cut off at the event's time (30 s ago), not at its arrival.
				if !e.a.Check(accessToken("at", want[1], "", now.Add(-10*time.Second))).Allowed {
					t.Error("a token issued after the event is refused")
				}
				if e.a.Check(accessToken("at", want[1], "", now.Add(-40*time.Second))).Allowed {
					t.Error("a token issued before the event passes")
				}
			}
		})
	}
}

// TestSSFRefuses: unsigned, wrongly signed, replayed, wrong-audience and
// malformed SETs are each refused with their RFC 8935 error code and
// counted, and none revokes anything.
func TestSSFRefuses(t *testing.T) {
	e := newSSFEnv(t)
	now := time.Now()
	js := specSETs["caep credential-change"]
	other := newTxKey(t, 2048)
	small := newTxKey(t, 1024)
	smallRecv, err := idp.NewSETReceiver(e.pub, small.keys, transmitter, []string{receiverAud}, idp.DefaultSubjectMap(transmitter))
	if err != nil {
		t.Fatal(err)
	}
	if serr := smallRecv.Receive(context.Background(), small.set(t, js, now, nil, nil)); serr == nil || serr.Code != idp.ErrCodeInvalidKey {
		t.Errorf("a SET signed with a 1024-bit RSA key: %v, want invalid_key", serr)
	}
	unsigned := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": transmitter, "aud": receiverAud, "iat": now.Unix(), "jti": "x",
			"events": map[string]any{idp.EventCredentialChange: map[string]any{}}, "sub_id": map[string]any{"format": "opaque", "id": "u"}})
		tok.Header["typ"] = "secevent+jwt"
		s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	good := e.tx.set(t, js, now, nil, nil)
	mod := func(f func(jwt.MapClaims)) string { return e.tx.set(t, js, now, f, nil) }
	for _, tc := range []struct {
		name, auth, ct, body, code string
		status                     int
	}{
		{"no push token", "", "application/secevent+jwt", good, "authentication_failed", 401},
		{"wrong push token", "wrong-push-token-0123456789", "application/secevent+jwt", good, "authentication_failed", 401},
		{"wrong content type", pushToken, "application/jwt", good, "invalid_request", 400},
		{"not a JWT", pushToken, "", "not a jwt", "invalid_request", 400},
		{"unsigned (alg none)", pushToken, "", unsigned, "invalid_key", 400},
		{"signed by another key", pushToken, "", other.set(t, js, now, nil, nil), "invalid_key", 400},
		{"tampered", pushToken, "", good[:len(good)-4] + "AAAA", "invalid_key", 400},
		{"wrong issuer", pushToken, "", mod(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" }), "invalid_issuer", 400},
		{"wrong audience", pushToken, "", mod(func(c jwt.MapClaims) { c["aud"] = "https://other.example" }), "invalid_audience", 400},
		{"typ JWT", pushToken, "", e.tx.set(t, js, now, nil, map[string]any{"typ": "JWT"}), "invalid_request", 400},
		{"no typ", pushToken, "", e.tx.set(t, js, now, nil, map[string]any{"typ": nil}), "invalid_request", 400},
		{"no jti", pushToken, "", mod(func(c jwt.MapClaims) { delete(c, "jti") }), "invalid_request", 400},
		{"old iat", pushToken, "", mod(func(c jwt.MapClaims) { c["iat"] = now.Add(-3 * time.Hour).Unix() }), "invalid_request", 400},
		{"future iat", pushToken, "", mod(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }), "invalid_request", 400},
		{"no events", pushToken, "", mod(func(c jwt.MapClaims) { delete(c, "events") }), "invalid_request", 400},
		{"event not an object", pushToken, "", mod(func(c jwt.MapClaims) { c["events"] = map[string]any{idp.EventCredentialChange: 1} }), "invalid_request", 400},
		{"no subject", pushToken, "", mod(func(c jwt.MapClaims) { delete(c, "sub_id") }), "invalid_request", 400},
		{"subject of another issuer", pushToken, "", mod(func(c jwt.MapClaims) {
			c["sub_id"] = map[string]any{"format": "iss_sub", "iss": "https://evil.example/", "sub": "jane"}
		}), "invalid_request", 400},
		{"unmapped subject format", pushToken, "", mod(func(c jwt.MapClaims) {
			c["sub_id"] = map[string]any{"format": "phone_number", "phone_number": "+12065550100"}
		}), "invalid_request", 400},
		{"event in the future", pushToken, "", mod(func(c jwt.MapClaims) {
			c["events"] = map[string]any{idp.EventCredentialChange: map[string]any{"event_timestamp": now.Add(time.Hour).Unix()}}
		}), "invalid_request", 400},
		{"event_timestamp a string", pushToken, "", mod(func(c jwt.MapClaims) {
			c["events"] = map[string]any{idp.EventCredentialChange: map[string]any{"event_timestamp": "now"}}
		}), "invalid_request", 400},
		{"huge", pushToken, "", strings.Repeat("a", 70<<10), "invalid_request", 400},
	} {
		ct := tc.ct
		if ct == "" {
			ct = "application/secevent+jwt"
		}
		st, body := e.push(t, tc.auth, ct, tc.body)
		if st != tc.status || body["err"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, body, tc.status, tc.code)
		}
	}
	if seq := e.seqs(); seq != 0 {
		t.Fatalf("refused SETs wrote %d revocations", seq)
	}
	if st, body := e.push(t, pushToken, "application/secevent+jwt", good); st != 202 {
		t.Fatalf("the valid SET: %d %v", st, body)
	}
	seq := e.seqs()
	if st, body := e.push(t, pushToken, "application/secevent+jwt", good); st != 400 || body["err"] != "invalid_request" {
		t.Errorf("the same SET again: %d %v, want 400 invalid_request", st, body)
	}
	if e.seqs() != seq {
		t.Error("a replayed SET revoked again")
	}
	mfs := testkit.Gather(t, e.r.Collector())
	for outcome, want := range map[string]float64{"authentication_failed": 2, "invalid_key": 3, "invalid_issuer": 1, "invalid_audience": 1, "replayed": 1, "subject": 1} {
		if got, _ := testkit.MetricValue(mfs, "jwtrevoke_ssf_sets_total", "outcome", outcome); got != want {
			t.Errorf("jwtrevoke_ssf_sets_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// transmitterPoll is an RFC 8936 poll endpoint: it hands out the SETs not
// yet acknowledged and records what the receiver acknowledged and reported.
type transmitterPoll struct {
	mu   sync.Mutex
	sets map[string]string
	acks []string
	errs map[string]string
}

func (p *transmitterPoll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer poll-token-0123456789abcdef" {
		w.WriteHeader(401)
		return
	}
	var req struct {
		Ack     []string                     `json:"ack"`
		SetErrs map[string]map[string]string `json:"setErrs"`
		Max     int                          `json:"maxEvents"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(400)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range req.Ack {
		p.acks = append(p.acks, a)
		delete(p.sets, a)
	}
	for jti, e := range req.SetErrs {
		p.errs[jti] = e["err"]
		delete(p.sets, jti)
	}
	out := map[string]string{}
	for jti, s := range p.sets {
		if len(out) == req.Max {
			break
		}
		out[jti] = s
	}
	json.NewEncoder(w).Encode(map[string]any{"sets": out, "moreAvailable": len(p.sets) > len(out)})
}

// TestSSFPoll: SETs fetched from a transmitter's poll endpoint are acted
// on and acknowledged on the next poll; a bad one is reported in setErrs
// with its code and revokes nothing.
func TestSSFPoll(t *testing.T) {
	e := newSSFEnv(t)
	now := time.Now()
	tp := &transmitterPoll{sets: map[string]string{
		"07efd930f0977e4fcc1149a733ce7f78":   e.tx.set(t, specSETs["caep credential-change"], now, nil, nil),
		"756E69717565206964656E746966696572": e.tx.set(t, specSETs["risc account-disabled"], now, nil, nil),
		"bad-one": e.tx.set(t, specSETs["caep credential-change"], now, func(c jwt.MapClaims) {
			c["jti"], c["aud"] = "bad-one", "https://other.example"
		}, nil),
	}, errs: map[string]string{}}
	srv := httptest.NewServer(tp)
	defer srv.Close()
	ctx := context.Background()
	acks, errs, _, err := e.r.PollOnce(ctx, nil, srv.URL, "poll-token-0123456789abcdef", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 2 || errs["bad-one"] == nil || errs["bad-one"].Code != "invalid_audience" {
		t.Fatalf("after the first poll: acks %v errs %v", acks, errs)
	}
	if _, _, more, err := e.r.PollOnce(ctx, nil, srv.URL, "poll-token-0123456789abcdef", acks, errs); err != nil || more {
		t.Fatalf("second poll: more %v, %v", more, err)
	}
	tp.mu.Lock()
	if len(tp.sets) != 0 || len(tp.acks) != 2 || tp.errs["bad-one"] != "invalid_audience" {
		t.Errorf("the transmitter holds %d SETs, acks %v, errs %v", len(tp.sets), tp.acks, tp.errs)
	}
	tp.mu.Unlock()
	testkit.WaitApplied(t, e.a, e.seqs())
	for _, sub := range []string{"jane.smith@example.com", "7375626A656374"} {
		if e.a.Check(accessToken("at", sub, "", now.Add(-time.Minute))).Allowed {
			t.Errorf("%s's earlier token passes after the polled event", sub)
		}
	}
	if e.seqs() != 2 {
		t.Errorf("the stream holds %d revocations, want 2", e.seqs())
	}
	if _, _, _, err := e.r.PollOnce(ctx, nil, srv.URL, "wrong", nil, nil); err == nil {
		t.Error("a poll the transmitter refused reported no error")
	}
}
