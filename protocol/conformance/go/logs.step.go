// Conformance fixture ConformanceLogs (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"fmt"
	"math"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceLogs", "type": "event", "subscribes": []string{"conformance.logs"}, "emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		ctx.Logger.Info("conformance log", motiad.Fields{"n": 1})
		var fields struct {
			Mark   string `json:"mark"`
			Unsafe bool   `json:"unsafe"`
		}
		_ = json.Unmarshal(input, &fields)
		if fields.Unsafe { // values JSON cannot hold (SPEC log.notification)
			nan := math.NaN()
			ctx.Logger.Info("conformance unsafe", motiad.Fields{"nan": nan, "inf": math.Inf(1), "object": complex(1, 2), "list": []float64{nan}})
			// The logger takes only Fields: the map a list becomes elsewhere.
			ctx.Logger.Info("conformance not a map", motiad.Fields{"value": []any{"a", 1}})
		}
		fmt.Printf("conformance stdout %s\n", fields.Mark)
		return nil, nil
	})
}
