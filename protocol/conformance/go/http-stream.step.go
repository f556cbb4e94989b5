// Conformance fixture ConformanceHttpStream (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceHttpStream", "type": "api", "path": "/conformance/http-stream", "method": "POST", "emits": []string{},
	}, httpStream)
}

func httpStream(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[struct {
		Body struct {
			Chunks []string `json:"chunks"`
		} `json:"body"`
	}](input)
	if err != nil {
		return nil, err
	}
	response := ctx.StreamResponse(201, map[string]string{"x-conformance": "stream"})
	for _, chunk := range req.Body.Chunks {
		if _, err := response.Write([]byte(chunk)); err != nil {
			return nil, err
		}
	}
	if _, err := response.Write([]byte{0x00, 0xff}); err != nil {
		return nil, err
	}
	return motiad.Response{Status: 200, Body: map[string]bool{"ignored": true}}, nil
}
