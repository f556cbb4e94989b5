// Conformance fixture ConformanceEcho (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"
	"strings"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceEcho", "type": "api", "path": "/conformance/echo", "method": "POST", "emits": []string{},
	}, echo)
}

func echo(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[map[string]json.RawMessage](input)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"body": req["body"], "pathParams": req["pathParams"], "queryParams": req["queryParams"], "traceId": ctx.TraceID,
		"traceparent": nil,
	}
	if ctx.Traceparent != "" {
		body["traceparent"] = ctx.Traceparent
	}
	if pad, ok := padOf(req["body"]); ok {
		body["pad"] = strings.Repeat("x", pad)
	}
	return motiad.Response{Status: 200, Body: body, Headers: map[string]string{"x-conformance": "echo"}}, nil
}

// padOf is the body's integer "pad", when it has one.
func padOf(body json.RawMessage) (int, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return 0, false
	}
	var pad int
	if raw, ok := fields["pad"]; ok && json.Unmarshal(raw, &pad) == nil {
		return pad, true
	}
	return 0, false
}
