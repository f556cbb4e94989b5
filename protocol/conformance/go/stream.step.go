// Conformance fixture ConformanceStream (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceStream", "type": "api", "path": "/conformance/stream", "method": "POST", "emits": []string{},
	}, stream)
}

func stream(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[struct {
		Body struct {
			Group string `json:"group"`
		} `json:"body"`
	}](input)
	if err != nil {
		return nil, err
	}
	group := req.Body.Group
	items := ctx.Streams("conformance")
	stored, err := items.Set(group, "a", map[string]int{"n": 1})
	if err != nil {
		return nil, err
	}
	got, err := items.Get(group, "a")
	if err != nil {
		return nil, err
	}
	all, err := items.GetGroup(group)
	if err != nil {
		return nil, err
	}
	if err := items.Send(group, "", "ping", map[string]int{"n": 2}); err != nil {
		return nil, err
	}
	deleted, err := items.Delete(group, "a")
	if err != nil {
		return nil, err
	}
	return motiad.Response{Status: 200, Body: map[string]any{"set": stored, "got": got, "group": all, "deleted": deleted}}, nil
}
