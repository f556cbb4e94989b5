// Conformance fixture ConformanceIgnoresCancel (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"time"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceIgnoresCancel", "type": "event", "subscribes": []string{"conformance.stubborn"},
		"emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		time.Sleep(millis(input, 1000)) // deaf to ctx.Done() on purpose
		return nil, nil
	})
}
