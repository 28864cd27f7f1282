package region

// The mirror's durable consumer at the hub. nats.go (v1.55) has neither
// the mirror's consumer field nor the flow-control ack policy such a
// consumer needs, so these few requests are written against the JetStream
// API's JSON directly.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/jsretry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// durableSource is a mirror's consumer field: the durable consumer at
// the origin it follows.
type durableSource struct {
	Name           string `json:"name"`
	DeliverSubject string `json:"deliver_subject"`
}

// apiError is the error member of a JetStream API response.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d)", e.Description, e.ErrCode) }

// JetStream API error codes these requests tell apart.
const (
	errConsumerNotFound = 10014
	errStreamNameInUse  = 10058
)

// request sends a JetStream API request and decodes its answer into out,
// returning the API's error as an *apiError.
func request(ctx context.Context, nc *nats.Conn, subject string, body any, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	m, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var resp struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	if out != nil {
		return json.Unmarshal(m.Data, out)
	}
	return nil
}

// durableConfig is the configuration of the mirror's consumer at the hub:
// every event from the first, pushed to the region on DeliverSubject with
// flow control, acknowledged by it (nats-server's durable mirroring wants
// the flow-control ack policy), a heartbeat every second (by which the
// region's agents know the link is up).
func durableConfig(d durableSource) map[string]any {
	return map[string]any{
		"durable_name":    d.Name,
		"name":            d.Name,
		"description":     "jwtrevoke: the mirror of a region (region.Ensure)",
		"deliver_subject": d.DeliverSubject,
		"deliver_policy":  "all",
		"ack_policy":      "flow_control",
		"replay_policy":   "instant",
		"flow_control":    true,
		"idle_heartbeat":  int64(time.Second),
	}
}

// ensureDurable makes the mirror's consumer at the hub, or checks the one
// there.
func ensureDurable(ctx context.Context, nc *nats.Conn, hubDomain, stream string, d durableSource) error {
	api := APIPrefix(hubDomain)
	var info struct {
		Config struct {
			DeliverSubject string   `json:"deliver_subject"`
			AckPolicy      string   `json:"ack_policy"`
			DeliverPolicy  string   `json:"deliver_policy"`
			FilterSubject  string   `json:"filter_subject"`
			FilterSubjects []string `json:"filter_subjects"`
		} `json:"config"`
	}
	err := request(ctx, nc, api+".CONSUMER.INFO."+stream+"."+d.Name, nil, &info)
	if ae, ok := err.(*apiError); ok && ae.ErrCode == errConsumerNotFound {
		req := map[string]any{"stream_name": stream, "config": durableConfig(d), "action": "create"}
		err = request(ctx, nc, api+".CONSUMER.CREATE."+stream+"."+d.Name, req, &info)
	}
	if err != nil {
		hint := ""
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			hint = " (no answer: may this user look up and make consumers of the hub's stream, and the region's leaf node send them? deploy/nats: the region admin and REGION_PERMISSIONS)"
		}
		return fmt.Errorf("%w: the mirror's consumer %q at the hub: %v%s", ErrMirror, d.Name, err, hint)
	}
	cf := info.Config
	if cf.DeliverSubject != d.DeliverSubject || cf.AckPolicy != "flow_control" || cf.DeliverPolicy != "all" || cf.FilterSubject != "" || len(cf.FilterSubjects) > 0 {
		return fmt.Errorf("%w: the hub's consumer %q is not this region's mirror consumer (deliver subject %q, ack policy %q, deliver policy %q, filter %q %v): remove it at the hub (nats consumer rm %s %s)",
			ErrMirror, d.Name, cf.DeliverSubject, cf.AckPolicy, cf.DeliverPolicy, cf.FilterSubject, cf.FilterSubjects, stream, d.Name)
	}
	return nil
}

// createMirror creates the region's mirror cfg following the durable
// consumer d.
func createMirror(ctx context.Context, nc *nats.Conn, cfg jetstream.StreamConfig, d durableSource) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	mirror, ok := raw["mirror"].(map[string]any)
	if !ok {
		return fmt.Errorf("jwtrevoke/region: the mirror's configuration has no mirror")
	}
	mirror["consumer"] = d
	// A refusal that passes by itself (the store of a stream of this name
	// just deleted, a region's cluster just formed) is tried again.
	err = jsretry.Do(ctx, apiCode, func() error {
		return request(ctx, nc, "$JS.API.STREAM.CREATE."+cfg.Name, raw, nil)
	})
	switch apiCode(err) {
	case errStreamNameInUse:
		return jetstream.ErrStreamNameAlreadyInUse
	case jsretry.NoPeers:
		return fmt.Errorf("%w (%d replicas need as many JetStream servers in the region's cluster)", err, cfg.Replicas)
	}
	return err
}

// apiCode is the JetStream API error code of a request's error, 0 if none.
func apiCode(err error) int {
	if ae, ok := err.(*apiError); ok {
		return ae.ErrCode
	}
	return 0
}

// mirrorSource returns the durable consumer the region's stream follows,
// nil for a mirror with an ephemeral one.
func mirrorSource(ctx context.Context, nc *nats.Conn, stream string) (*durableSource, error) {
	var info struct {
		Config struct {
			Mirror *struct {
				Consumer *durableSource `json:"consumer"`
			} `json:"mirror"`
		} `json:"config"`
	}
	if err := request(ctx, nc, "$JS.API.STREAM.INFO."+stream, nil, &info); err != nil {
		return nil, fmt.Errorf("%w: stream %q here: %v", ErrMirror, stream, err)
	}
	if info.Config.Mirror == nil {
		return nil, nil
	}
	return info.Config.Mirror.Consumer, nil
}
