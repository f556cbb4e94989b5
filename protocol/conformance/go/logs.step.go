// Conformance fixture ConformanceLogs (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"fmt"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceLogs", "type": "event", "subscribes": []string{"conformance.logs"}, "emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		ctx.Logger.Info("conformance log", motiad.Fields{"n": 1})
		var fields struct {
			Mark string `json:"mark"`
		}
		_ = json.Unmarshal(input, &fields)
		fmt.Printf("conformance stdout %s\n", fields.Mark)
		return nil, nil
	})
}
