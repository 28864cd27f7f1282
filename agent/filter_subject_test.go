package agent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestConsumerUnfilteredOnARevocationStream: on a stream that holds only
// revocations (as publisher.New makes it) the agent's consumer passes no
// subject filter, and on a stream that holds other subjects too it filters
// to the revocations. A filter matching the whole stream made the server
// match it against every subject before the first delivery: with 10M keys
// the agent's first pulls outlived their heartbeats and the replay never
// started (0 events applied in a minute, "no heartbeat received"); without
// it the same replay applied 10M events in 57 s.
func TestConsumerUnfilteredOnARevocationStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	for _, tc := range []struct {
		name  string
		extra []string // subjects the stream holds besides the revocations
		want  []string
	}{
		{"revocations only", nil, nil},
		{"with other subjects", []string{"audit.>"}, []string{jwtrevoke.SubjectFilter("")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.NATS(t, "")
			nc := testkit.Connect(t, s.ClientURL())
			js := testkit.JetStream(t, nc)
			cfg := publisher.StreamConfig(jwtrevoke.DefaultStream, jwtrevoke.DefaultSubjectPrefix, time.Hour, time.Minute, 1)
			cfg.Subjects = append(cfg.Subjects, tc.extra...)
			if _, err := js.CreateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			pub := testkit.NewPublisher(t, nc)
			rc, err := pub.RevokeJTI(ctx, "j1", time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
			testkit.WaitApplied(t, a, rc.Seq)
			st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
			if err != nil {
				t.Fatal(err)
			}
			var filters [][]string
			for ci := range st.ListConsumers(ctx).Info() {
				f := ci.Config.FilterSubjects
				if ci.Config.FilterSubject != "" {
					f = append(f, ci.Config.FilterSubject)
				}
				filters = append(filters, f)
			}
			if len(filters) != 1 || !slices.Equal(filters[0], tc.want) {
				t.Errorf("the agent's consumer filters %q, want one consumer filtering %q", filters, tc.want)
			}
		})
	}
}
