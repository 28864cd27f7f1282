package demo

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
)

// replicaStatus is one replica as the page shows it.
type replicaStatus struct {
	Replica       int     `json:"replica"`
	URL           string  `json:"url"`
	Port          int     `json:"port"`
	Ready         bool    `json:"ready"`
	Stale         bool    `json:"stale"`
	StalenessMS   float64 `json:"staleness_ms"`
	LastApplied   uint64  `json:"last_applied"`
	EventsApplied uint64  `json:"events_applied"`
	LagLastMS     float64 `json:"lag_last_ms"`
	LagP50MS      float64 `json:"lag_p50_ms"`
	LagP99MS      float64 `json:"lag_p99_ms"`
	LagSamples    int     `json:"lag_samples"`
	// LagRecentMS are the last lags, oldest first, for the sparkline.
	LagRecentMS []float64 `json:"lag_recent_ms"`
}

// statusFeed is the page's live feed, GET /api/status.
type statusFeed struct {
	Stream      string          `json:"stream"`
	LastSeq     uint64          `json:"last_seq"`
	StreamError string          `json:"stream_error,omitempty"`
	NATSURL     string          `json:"nats_url"`
	Issuer      string          `json:"issuer"`
	KeyID       string          `json:"kid"`
	Users       []string        `json:"users"`
	Replicas    []replicaStatus `json:"replicas"`
	Time        time.Time       `json:"time"`
}

func (d *instance) status(ctx context.Context) statusFeed {
	st := statusFeed{
		Stream:  d.g.Stream,
		NATSURL: d.natsURL,
		Issuer:  d.issuerURL,
		KeyID:   d.is.kid,
		Users:   users,
		Time:    time.Now().UTC(),
	}
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	info, err := d.stream.Info(ictx)
	cancel()
	if err != nil {
		st.StreamError = err.Error()
	} else {
		st.LastSeq = info.State.LastSeq
	}
	for _, r := range d.reps {
		h := r.a.Health()
		applied, last, p50, p99, n := r.lag.snapshot()
		_, port, _ := net.SplitHostPort(r.addr)
		p, _ := strconv.Atoi(port)
		st.Replicas = append(st.Replicas, replicaStatus{
			Replica:       r.n,
			URL:           d.replicaURL(r),
			Port:          p,
			Ready:         h.Ready,
			Stale:         h.Stale,
			StalenessMS:   millis(h.Staleness),
			LastApplied:   h.LastApplied,
			EventsApplied: applied,
			LagLastMS:     millis(last),
			LagP50MS:      millis(p50),
			LagP99MS:      millis(p99),
			LagSamples:    n,
			LagRecentMS:   recentMillis(r.lag.recent(sparkPoints)),
		})
	}
	return st
}

func (d *instance) handleStatus(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, d.status(r.Context()))
}

// sparkPoints is how many recent lags the page draws per replica.
const sparkPoints = 32

func recentMillis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = millis(d)
	}
	return out
}
