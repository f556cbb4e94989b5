// Conformance fixture ConformanceSlow (protocol/SPEC.md §11.1): stops when cancelled.
package conformance

import (
	"encoding/json"
	"time"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceSlow", "type": "event", "subscribes": []string{"conformance.slow"}, "emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		select {
		case <-time.After(millis(input, 60000)):
		case <-ctx.Done():
		}
		return nil, nil
	})
}

// millis is the input's "ms" as a duration, or def milliseconds.
func millis(input json.RawMessage, def int) time.Duration {
	var fields struct {
		Ms *int `json:"ms"`
	}
	if json.Unmarshal(input, &fields) == nil && fields.Ms != nil {
		def = *fields.Ms
	}
	return time.Duration(def) * time.Millisecond
}
