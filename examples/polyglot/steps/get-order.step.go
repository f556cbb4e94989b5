// Go: reads an order back, whichever language wrote it last.
package steps

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name":   "GetOrder",
		"type":   "api",
		"path":   "/orders/:id",
		"method": "GET",
		"flows":  []string{"orders"},
	}, getOrder)
}

func getOrder(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[motiad.Request](input)
	if err != nil {
		return nil, err
	}
	id := req.PathParams["id"]
	stored, err := ctx.State.Get("orders", id)
	if err != nil {
		return nil, err
	}
	if string(stored) == "null" {
		return motiad.Response{Status: 404, Body: map[string]string{"error": "no order " + id}}, nil
	}
	return motiad.Response{Status: 200, Body: stored}, nil
}
