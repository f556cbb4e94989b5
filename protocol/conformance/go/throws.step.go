// Conformance fixture ConformanceThrows (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

// ConformanceError is the error type the checker expects in ErrorInfo.type.
type ConformanceError struct{ message string }

func (e *ConformanceError) Error() string { return e.message }

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceThrows", "type": "event", "subscribes": []string{"conformance.throws"}, "emits": []string{},
	}, func(ctx *motiad.Context, input json.RawMessage) (any, error) {
		return nil, &ConformanceError{"conformance failure"}
	})
}
