package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

func hs256(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testkit.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClockSkew is fault 14: agents whose clocks are 2 minutes behind or
// ahead of the publisher's. Time is then moved forward on the agents'
// clocks, step by step, past every token's expiry: no revoked token may be
// accepted by the middleware at any step, and each revocation must be kept
// at least until its token's exp plus the middleware's leeway on the
// agent's own clock.
func TestClockSkew(t *testing.T) {
	parallel(t)
	step := pick(15*time.Second, 5*time.Second)
	r := report(t, "F14", "agent clock skew ±2 min", fmt.Sprintf("agents at −2 min, 0, +2 min; their clocks then stepped forward %v at a time for 20 min", step))

	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
	tr := &tracker{}
	type skewed struct {
		skew   time.Duration
		offset atomic.Int64 // how far the test has moved this agent's clock
		n      *node
		h      http.Handler
		now    func() time.Time
	}
	var agents []*skewed
	for _, skew := range []time.Duration{-2 * time.Minute, 0, 2 * time.Minute} {
		s := &skewed{skew: skew}
		s.now = func() time.Time { return time.Now().Add(s.skew + time.Duration(s.offset.Load())) }
		// Fail open, so that staleness (the clock jumps) never hides what
		// the filter answers.
		s.n = tr.mustStart(t, fmt.Sprintf("skew%+v", skew), dial(t, srv.URL()), agent.WithClock(s.now), agent.WithPolicy(agent.FailOpen))
		mw, err := verify.Middleware(s.n.a, keyset.Keyfunc(func(*jwt.Token) (any, error) { return testkit.HMACKey, nil }), []string{"HS256"})
		if err != nil {
			t.Fatal(err)
		}
		s.h = mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
		agents = append(agents, s)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := time.Now()
	iat := now.Add(-5 * time.Minute)
	type tokCase struct {
		name string
		raw  string
		tok  jwtrevoke.Token
		exp  time.Time
	}
	var toks []tokCase
	log := &ackLog{}
	for _, left := range []time.Duration{20 * time.Second, 70 * time.Second, 3 * time.Minute, 10 * time.Minute} {
		exp := now.Add(left).Truncate(time.Second)
		jti := fmt.Sprintf("skew-jti-%v", left)
		tok := jwtrevoke.Token{JTI: jti, IssuedAt: iat.Truncate(time.Second), ExpiresAt: exp}
		toks = append(toks, tokCase{jti, hs256(t, jwt.MapClaims{"jti": jti, "iat": iat.Unix(), "exp": exp.Unix()}), tok, exp})
		rc, err := pub.RevokeToken(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		log.add(tok, rc, time.Now())
	}
	subExp := now.Add(10 * time.Minute).Truncate(time.Second)
	subTok := jwtrevoke.Token{JTI: "skew-sub-tok", Subject: "skew-user", IssuedAt: iat.Truncate(time.Second), ExpiresAt: subExp}
	toks = append(toks, tokCase{"sub", hs256(t, jwt.MapClaims{"jti": "skew-sub-tok", "sub": "skew-user", "iat": iat.Unix(), "exp": subExp.Unix()}), subTok, subExp})
	rc, err := pub.RevokeSubject(ctx, "skew-user", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	log.add(subTok, rc, time.Now())
	_, maxSeq := log.snapshot()
	for _, s := range agents {
		mustApply(t, 30*time.Second, "agent applied the revocations", s.n.a, maxSeq)
	}

	accepted := 0
	// keptUntil[i][j]: the last agent time at which agent i's filter still
	// held token j's revocation; validUntil: the last at which the
	// middleware refused the token as revoked (rather than expired).
	keptUntil := make([][]time.Time, len(agents))
	validUntil := make([][]time.Time, len(agents))
	for i := range agents {
		keptUntil[i] = make([]time.Time, len(toks))
		validUntil[i] = make([]time.Time, len(toks))
	}
	for off := time.Duration(0); off <= 20*time.Minute; off += step {
		for i, s := range agents {
			s.offset.Store(int64(off))
			at := s.now()
			for j, tc := range toks {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Authorization", "Bearer "+tc.raw)
				rec := httptest.NewRecorder()
				s.h.ServeHTTP(rec, req)
				var body struct{ Reason string }
				json.NewDecoder(rec.Body).Decode(&body)
				switch {
				case rec.Code == 200:
					accepted++
					t.Errorf("agent %v at agent time exp%+v: revoked token %s accepted", s.skew, at.Sub(tc.exp).Round(time.Second), tc.name)
				case body.Reason == string(jwtrevoke.ReasonRevoked):
					validUntil[i][j] = at
				}
				if v, _ := s.n.a.Filter().CheckAt(&tc.tok, at); v == filter.Revoked {
					keptUntil[i][j] = at
				}
			}
		}
	}
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), accepted
	for i, s := range agents {
		st := s.n.a.Stats()
		line := fmt.Sprintf("agent %+v: applied %d, already expired on arrival %d;", s.skew, st.EventsApplied, st.EventsExpired)
		for j, tc := range toks {
			if !validUntil[i][j].IsZero() {
				line += fmt.Sprintf(" %s refused as revoked until exp%+v,", tc.name, validUntil[i][j].Sub(tc.exp).Round(time.Second))
			}
		}
		for j, tc := range toks {
			kept := "never held"
			if !keptUntil[i][j].IsZero() {
				kept = fmt.Sprintf("held until exp%+v", keptUntil[i][j].Sub(tc.exp).Round(time.Second))
			}
			line += fmt.Sprintf(" %s %s", tc.name, kept)
			// The middleware accepts a token until exp + 30 s on the
			// agent's clock: a revocation the agent applied must be held
			// at least that long.
			if !keptUntil[i][j].IsZero() && keptUntil[i][j].Before(tc.exp.Add(30*time.Second)) {
				t.Errorf("agent %+v: %s revocation held only until exp%+v, want at least exp+30s", s.skew, tc.name, keptUntil[i][j].Sub(tc.exp))
			}
			if keptUntil[i][j].IsZero() && !tc.exp.Add(30*time.Second).Before(now.Add(s.skew)) {
				t.Errorf("agent %+v: %s revocation never held, though its token was still valid on the agent's clock when it arrived", s.skew, tc.name)
			}
		}
		r.note("%s", line)
	}
}
