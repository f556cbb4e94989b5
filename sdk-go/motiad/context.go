package motiad

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
)

// Context is what a handler gets besides its input. It is a context.Context
// that is cancelled when the broker cancels the invocation, when its
// timeout passes, or at shutdown: long handlers should watch ctx.Done().
type Context struct {
	context.Context
	// TraceID ties together everything one API request or cron tick causes.
	TraceID string
	// InvocationID names this handler call (sent with every service call).
	InvocationID string
	// Traceparent is the invocation's W3C trace context
	// (https://www.w3.org/TR/trace-context/), "" from an older broker: send it
	// as the traceparent header of the handler's own HTTP calls and they join
	// the same trace, as children of this invocation.
	Traceparent string
	// Trigger says what started the call; for events its Topic and EventID.
	Trigger Trigger
	// Attempt is 1 for the first delivery of an event, 2 for the first retry...
	Attempt int
	// State is the key-value store shared by every step, grouped by a group id.
	State *State
	// Logger sends log records to the broker, tied to this invocation's trace.
	Logger *Logger
	child  *child
}

// Event is what Emit sends.
type Event struct {
	Topic string
	Data  any
	// MessageGroupID orders delivery for fifo queues; "" sends none.
	MessageGroupID string
}

// Emit publishes an event; when it returns without error the event is
// stored and will reach every subscriber. It returns the event's id.
func (ctx *Context) Emit(event Event) (string, error) {
	params := map[string]any{"invocationId": ctx.InvocationID, "topic": event.Topic, "data": event.Data}
	if event.MessageGroupID != "" {
		params["messageGroupId"] = event.MessageGroupID
	}
	raw, err := ctx.child.call(ctx, methodEmit, params)
	if err != nil {
		return "", err
	}
	var result struct {
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal(raw, &result); err != nil {
		return "", fmt.Errorf("emit: unexpected answer %s", clip(raw))
	}
	return result.EventID, nil
}

// call is a service request that carries the invocation's id.
func (ctx *Context) call(method string, params map[string]any) (json.RawMessage, error) {
	params["invocationId"] = ctx.InvocationID
	return ctx.child.call(ctx, method, params)
}

// State is the shared key-value store. Values are JSON; results come back
// as raw JSON ("null" when there is none): decode them with Decode.
type State struct{ ctx *Context }

// Get returns the value at (group, key), or null.
func (s *State) Get(group, key string) (json.RawMessage, error) {
	return s.ctx.call(methodStateGet, map[string]any{"groupId": group, "key": key})
}

// Set stores value at (group, key) and returns the stored value.
func (s *State) Set(group, key string, value any) (json.RawMessage, error) {
	return s.ctx.call(methodStateSet, map[string]any{"groupId": group, "key": key, "value": value})
}

// Delete removes (group, key) and returns the value it held, or null.
func (s *State) Delete(group, key string) (json.RawMessage, error) {
	return s.ctx.call(methodStateDelete, map[string]any{"groupId": group, "key": key})
}

// GetGroup returns the values of a group, ordered by key.
func (s *State) GetGroup(group string) ([]json.RawMessage, error) {
	raw, err := s.ctx.call(methodStateGetGroup, map[string]any{"groupId": group})
	if err != nil {
		return nil, err
	}
	var values []json.RawMessage
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("state.getGroup: unexpected answer %s", clip(raw))
	}
	return values, nil
}

// Clear removes every key of a group.
func (s *State) Clear(group string) error {
	_, err := s.ctx.call(methodStateClear, map[string]any{"groupId": group})
	return err
}

// Streams is the stream named name: a collection of JSON objects by
// (group id, id) whose changes are pushed to subscribed clients.
func (ctx *Context) Streams(name string) *Stream { return &Stream{ctx: ctx, name: name} }

// Stream is one named stream.
type Stream struct {
	ctx  *Context
	name string
}

func (s *Stream) params(group string) map[string]any {
	return map[string]any{"stream": s.name, "groupId": group}
}

// Get returns the item (group, id), or null.
func (s *Stream) Get(group, id string) (json.RawMessage, error) {
	params := s.params(group)
	params["id"] = id
	return s.ctx.call(methodStreamGet, params)
}

// Set stores data (a JSON object) as item (group, id) and returns the
// stored item: data with "id" set.
func (s *Stream) Set(group, id string, data any) (json.RawMessage, error) {
	params := s.params(group)
	params["id"] = id
	params["data"] = data
	return s.ctx.call(methodStreamSet, params)
}

// Delete removes item (group, id) and returns it, or null.
func (s *Stream) Delete(group, id string) (json.RawMessage, error) {
	params := s.params(group)
	params["id"] = id
	return s.ctx.call(methodStreamDelete, params)
}

// GetGroup returns the items of a group, ordered by id.
func (s *Stream) GetGroup(group string) ([]json.RawMessage, error) {
	raw, err := s.ctx.call(methodStreamGetGroup, s.params(group))
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("stream.getGroup: unexpected answer %s", clip(raw))
	}
	return items, nil
}

// Send pushes an ephemeral event of type eventType to the group's
// subscribers (to one item's when id is not ""); nothing is stored.
func (s *Stream) Send(group, id, eventType string, data any) error {
	params := s.params(group)
	if id != "" {
		params["id"] = id
	}
	params["type"] = eventType
	params["data"] = data
	_, err := s.ctx.call(methodStreamSend, params)
	return err
}

// Fields are a log record's structured fields.
type Fields map[string]any

// Logger sends log notifications for one invocation.
type Logger struct{ ctx *Context }

// Debug logs at level debug.
func (l *Logger) Debug(message string, fields ...Fields) { l.log("debug", message, fields) }

// Info logs at level info.
func (l *Logger) Info(message string, fields ...Fields) { l.log("info", message, fields) }

// Warn logs at level warn.
func (l *Logger) Warn(message string, fields ...Fields) { l.log("warn", message, fields) }

// Error logs at level error.
func (l *Logger) Error(message string, fields ...Fields) { l.log("error", message, fields) }

func (l *Logger) log(level, message string, fields []Fields) {
	params := map[string]any{"level": level, "message": message, "invocationId": l.ctx.InvocationID}
	if len(fields) > 0 {
		merged := Fields{}
		for _, f := range fields {
			for k, v := range f {
				merged[k] = jsonSafe(v)
			}
		}
		params["fields"] = merged
	}
	l.ctx.child.notify(methodLog, params)
}

// jsonSafe is v when JSON can encode it, null for a NaN or an infinity, else
// its text (log.notification: SDKs make user values JSON-safe).
func jsonSafe(v any) any {
	switch f := v.(type) {
	case float64:
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil
		}
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}
