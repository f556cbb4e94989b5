// A no-op event handler: the invoke micro-benchmark drives it straight through
// motiad.supervisor.Child (broker -> child -> broker), no HTTP, no storage.
package steps

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{"name": "NoopGo", "type": "event", "subscribes": []string{"noop"}, "emits": []string{}},
		func(ctx *motiad.Context, input json.RawMessage) (any, error) { return nil, nil })
}
