// Package motiad is the Go SDK of the motiad step protocol (protocol/SPEC.md).
//
// A Go step file registers its config and handler from an init function:
//
//	package steps
//
//	import (
//		"encoding/json"
//
//		"motiad.dev/sdk/motiad"
//	)
//
//	func init() {
//		motiad.Register(motiad.Config{
//			"name": "ShipOrder", "type": "event",
//			"subscribes": []string{"order.priced"}, "emits": []string{"order.shipped"},
//		}, ship)
//	}
//
//	func ship(ctx *motiad.Context, input json.RawMessage) (any, error) {
//		order, err := motiad.Decode[map[string]any](input)
//		if err != nil {
//			return nil, motiad.NonRetryable(err)
//		}
//		_, err = ctx.Emit(motiad.Event{Topic: "order.shipped", Data: order})
//		return nil, err
//	}
//
// Go cannot load a source file at run time, so a project's Go step packages
// are compiled together with this SDK into one runner binary before motiad
// starts (sdk-go/build.sh, run by the registry's build command). The runner
// hosts the steps whose paths the broker names in initialize; Main serves the
// protocol on stdin/stdout until shutdown or end of input.
package motiad
