// Conformance fixture ConformanceThrowsPermanent (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"errors"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceThrowsPermanent", "type": "event", "subscribes": []string{"conformance.permanent"},
		"emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		return nil, motiad.NonRetryable(errors.New("permanent failure"))
	})
}
