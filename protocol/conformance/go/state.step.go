// Conformance fixture ConformanceState (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceState", "type": "api", "path": "/conformance/state", "method": "POST", "emits": []string{},
	}, state)
}

func state(ctx *motiad.Context, input json.RawMessage) (any, error) {
	req, err := motiad.Decode[struct {
		Body struct {
			Group string `json:"group"`
		} `json:"body"`
	}](input)
	if err != nil {
		return nil, err
	}
	group := req.Body.Group
	stored, err := ctx.State.Set(group, "a", map[string]int{"n": 1})
	if err != nil {
		return nil, err
	}
	if _, err := ctx.State.Set(group, "b", map[string]int{"n": 2}); err != nil {
		return nil, err
	}
	got, err := ctx.State.Get(group, "a")
	if err != nil {
		return nil, err
	}
	values, err := ctx.State.GetGroup(group)
	if err != nil {
		return nil, err
	}
	deleted, err := ctx.State.Delete(group, "a")
	if err != nil {
		return nil, err
	}
	if err := ctx.State.Clear(group); err != nil {
		return nil, err
	}
	return motiad.Response{Status: 200, Body: map[string]any{"set": stored, "got": got, "group": values, "deleted": deleted}}, nil
}
