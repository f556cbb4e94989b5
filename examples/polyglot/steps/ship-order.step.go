// Go: ships the order the Python step priced.
package steps

import (
	"encoding/json"
	"fmt"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name":       "ShipOrder",
		"type":       "event",
		"subscribes": []string{"order.priced"},
		"emits":      []string{"order.shipped"},
		"flows":      []string{"orders"},
	}, shipOrder)
}

type order struct {
	ID         string           `json:"id"`
	Items      []map[string]any `json:"items"`
	Status     string           `json:"status"`
	TotalCents int              `json:"totalCents"`
	Steps      []string         `json:"steps"`
	TraceID    string           `json:"traceId"`
	Tracking   string           `json:"tracking,omitempty"`
}

func shipOrder(ctx *motiad.Context, input json.RawMessage) (any, error) {
	event, err := motiad.Decode[struct {
		ID string `json:"id"`
	}](input)
	if err != nil {
		return nil, motiad.NonRetryable(err)
	}
	raw, err := ctx.State.Get("orders", event.ID)
	if err != nil {
		return nil, err
	}
	current, err := motiad.Decode[order](raw)
	if err != nil {
		return nil, motiad.NonRetryable(err)
	}
	current.Status = "shipped"
	current.Steps = append(current.Steps, "go")
	current.Tracking = fmt.Sprintf("GO-%s-%d", current.ID, current.TotalCents)
	if _, err := ctx.State.Set("orders", current.ID, current); err != nil {
		return nil, err
	}
	ctx.Logger.Info("Shipped order", motiad.Fields{"id": current.ID, "tracking": current.Tracking})
	_, err = ctx.Emit(motiad.Event{Topic: "order.shipped", Data: map[string]string{"id": current.ID}})
	return nil, err
}
