// Conformance fixture ConformanceEmit (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"strings"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceEmit", "type": "api", "path": "/conformance/emit", "method": "POST",
		"emits": []string{"conformance.emitted"},
	}, emit)
}

func emit(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[motiad.Request](input)
	if err != nil {
		return nil, err
	}
	var data any = req.Body
	if pad, ok := padOf(req.Body); ok {
		fields, _ := motiad.Decode[map[string]any](req.Body)
		fields["pad"] = strings.Repeat("x", pad)
		data = fields
	}
	eventID, err := ctx.Emit(motiad.Event{Topic: "conformance.emitted", Data: data})
	if err != nil {
		return nil, err
	}
	return motiad.Response{Status: 200, Body: map[string]string{"eventId": eventID}}, nil
}
