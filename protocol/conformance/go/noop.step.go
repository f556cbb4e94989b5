// Conformance fixture ConformanceNoop (protocol/SPEC.md §11.1): loads, never runs.
package conformance

import "motiad.dev/sdk/motiad"

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceNoop", "type": "noop", "virtualEmits": []string{"conformance.virtual"},
		"virtualSubscribes": []string{},
	}, nil)
}
