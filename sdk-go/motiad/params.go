package motiad

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// badParams is a -32602 answer: what was wrong and where (rpc.bad-params).
type badParams struct {
	path string
	why  string
}

func (b *badParams) Error() string { return fmt.Sprintf("invalid params: %s at %s", b.why, b.path) }

// object reads params as a JSON object; absent params mean {} (rpc.params).
func object(raw json.RawMessage, path string) (jsonObject, *badParams) {
	if raw == nil {
		return jsonObject{}, nil
	}
	fields, ok := members(raw)
	if !ok {
		return nil, &badParams{path, "expected an object"}
	}
	return fields, nil
}

func requireString(fields jsonObject, name, path string) (string, *badParams) {
	raw, ok := fields.get(name)
	if !ok {
		return "", &badParams{path + "." + name, "missing"}
	}
	value, isString := unquote(raw)
	if !isString {
		return "", &badParams{path + "." + name, "expected a string"}
	}
	return value, nil
}

// optionalInt reads an integer ≥ min; absent or (when nullable) null give def.
func optionalInt(fields jsonObject, name, path string, min int64, nullable bool, def int64) (int64, *badParams) {
	raw, ok := fields.get(name)
	if !ok || (nullable && string(raw) == "null") {
		return def, nil
	}
	if !integerLiteral(raw) {
		return 0, &badParams{path + "." + name, "expected an integer"}
	}
	value, isInt64 := parseInteger(raw)
	if !isInt64 || value < min {
		return 0, &badParams{path + "." + name, fmt.Sprintf("expected an integer of at least %d", min)}
	}
	return value, nil
}

var versionPattern = regexp.MustCompile(`^([0-9]+)\.([0-9]+)$`)

type initializeParams struct {
	major        string // without leading zeros
	version      string
	project      string
	steps        []string
	maxLineBytes int64
}

func parseInitialize(raw json.RawMessage) (*initializeParams, *badParams) {
	fields, bad := object(raw, "$.params")
	if bad != nil {
		return nil, bad
	}
	var p initializeParams
	if p.version, bad = requireString(fields, "protocolVersion", "$.params"); bad != nil {
		return nil, bad
	}
	match := versionPattern.FindStringSubmatch(p.version)
	if match == nil {
		return nil, &badParams{"$.params.protocolVersion", `expected "MAJOR.MINOR"`}
	}
	// Majors compare as numbers (SPEC lifecycle.version): without leading zeros
	// the digits are the number's canonical text, of any length.
	p.major = strings.TrimLeft(match[1], "0")
	if p.major == "" {
		p.major = "0"
	}
	if p.project, bad = requireString(fields, "project", "$.params"); bad != nil {
		return nil, bad
	}
	stepsRaw, ok := fields.get("steps")
	if !ok {
		return nil, &badParams{"$.params.steps", "missing"}
	}
	var items []json.RawMessage
	if len(stepsRaw) == 0 || stepsRaw[0] != '[' || json.Unmarshal(stepsRaw, &items) != nil {
		return nil, &badParams{"$.params.steps", "expected an array of paths"}
	}
	for i, item := range items {
		var path string
		if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &path) != nil {
			return nil, &badParams{fmt.Sprintf("$.params.steps[%d]", i), "expected a string"}
		}
		p.steps = append(p.steps, path)
	}
	if p.maxLineBytes, bad = optionalInt(fields, "maxLineBytes", "$.params", 1, false, defaultMaxLineBytes); bad != nil {
		return nil, bad
	}
	return &p, nil
}

// Trigger is what started an invocation: "api", "cron", or "event" with the
// event's topic, id and message group.
type Trigger struct {
	Type           string `json:"type"`
	Topic          string `json:"topic,omitempty"`
	EventID        string `json:"eventId,omitempty"`
	MessageGroupID string `json:"messageGroupId,omitempty"`
	// Refusal (api): the response to give in place of the handler's, as the
	// body failed the step's bodySchema (SPEC invoke.refusal). Go steps have
	// no middleware, so the handler is not called.
	Refusal json.RawMessage `json:"refusal,omitempty"`
}

type invokeParams struct {
	step         string
	trigger      Trigger
	input        json.RawMessage
	traceID      string
	invocationID string
	attempt      int64
	timeoutMs    int64  // 0: no budget
	traceparent  string // "": absent or null (an older broker)
}

func parseInvoke(raw json.RawMessage) (*invokeParams, *badParams) {
	fields, bad := object(raw, "$.params")
	if bad != nil {
		return nil, bad
	}
	var p invokeParams
	if p.step, bad = requireString(fields, "step", "$.params"); bad != nil {
		return nil, bad
	}
	triggerRaw, ok := fields.get("trigger")
	if !ok {
		return nil, &badParams{"$.params.trigger", "missing"}
	}
	trigger, bad := object(triggerRaw, "$.params.trigger")
	if bad != nil {
		return nil, bad
	}
	if p.trigger.Type, bad = requireString(trigger, "type", "$.params.trigger"); bad != nil {
		return nil, bad
	}
	switch p.trigger.Type {
	case "cron":
	case "api":
		if refusal, ok := trigger.get("refusal"); ok && string(refusal) != "null" {
			if _, bad = object(refusal, "$.params.trigger.refusal"); bad != nil {
				return nil, bad
			}
			p.trigger.Refusal = refusal
		}
	case "event":
		if p.trigger.Topic, bad = requireString(trigger, "topic", "$.params.trigger"); bad != nil {
			return nil, bad
		}
		if p.trigger.EventID, bad = requireString(trigger, "eventId", "$.params.trigger"); bad != nil {
			return nil, bad
		}
		if group, ok := trigger.get("messageGroupId"); ok && string(group) != "null" {
			if p.trigger.MessageGroupID, bad = requireString(trigger, "messageGroupId", "$.params.trigger"); bad != nil {
				return nil, bad
			}
		}
	default:
		return nil, &badParams{"$.params.trigger.type", `expected "api", "event" or "cron"`}
	}
	if p.input, ok = fields.get("input"); !ok {
		return nil, &badParams{"$.params.input", "missing"}
	}
	if p.traceID, bad = requireString(fields, "traceId", "$.params"); bad != nil {
		return nil, bad
	}
	if p.invocationID, bad = requireString(fields, "invocationId", "$.params"); bad != nil {
		return nil, bad
	}
	if p.attempt, bad = optionalInt(fields, "attempt", "$.params", 1, false, 1); bad != nil {
		return nil, bad
	}
	if p.timeoutMs, bad = optionalInt(fields, "timeoutMs", "$.params", 1, true, 0); bad != nil {
		return nil, bad
	}
	// invoke.traceparent: handed over as sent; anything but a string is
	// absent (never a reason to refuse the invocation)
	if raw, ok := fields.get("traceparent"); ok {
		p.traceparent, _ = unquote(raw)
	}
	return &p, nil
}

// cancelTarget reads the params of $/cancel; ok is false when they are bad.
func cancelTarget(raw json.RawMessage) (json.RawMessage, bool) {
	fields, bad := object(raw, "$.params")
	if bad != nil {
		return nil, false
	}
	id, ok := fields.get("id")
	return id, ok && validID(id)
}
