// Conformance fixture ConformanceConcurrent (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceConcurrent", "type": "event", "subscribes": []string{"conformance.concurrent"},
		"emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		var fields struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(input, &fields); err != nil {
			return nil, err
		}
		_, err := ctx.State.Get("conformance", fields.Key)
		return nil, err
	})
}
