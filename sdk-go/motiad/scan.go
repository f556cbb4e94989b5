package motiad

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Reading the members of JSON objects without reflection: every line the
// broker sends passes through here, so classify and the params checks walk the
// bytes once instead of decoding into maps by reflection (each Unmarshal also
// re-validates what it decodes). The input is always part of a line that
// json.Valid accepted, so these functions only find boundaries; they never
// need to reject anything.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index just past the string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd is the index just past the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // a number, true, false or null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return len(b)
	}
}

// jsonObject is the members of a JSON object in their order, keys as written
// (quoted): looked up without building a map or decoding every key.
type jsonObject []member

type member struct{ key, value []byte }

// get is the value of the member named name (the last one, as encoding/json
// keeps the last of duplicate keys).
func (o jsonObject) get(name string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		key := o[i].key
		if bytes.IndexByte(key, '\\') < 0 {
			if string(key[1:len(key)-1]) == name {
				return o[i].value, true
			}
		} else if text, _ := unquote(key); text == name {
			return o[i].value, true
		}
	}
	return nil, false
}

// value is get without its second result: nil when there is no such member.
func (o jsonObject) value(name string) json.RawMessage {
	raw, _ := o.get(name)
	return raw
}

// members reads the JSON object raw; ok is false when raw is not an object.
// The values share raw's memory.
func members(raw []byte) (fields jsonObject, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	fields = make(jsonObject, 0, 8)
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] == '"'; {
		keyEnd := stringEnd(raw, i)
		start := skipSpace(raw, skipSpace(raw, keyEnd)+1) // past the ':'
		end := valueEnd(raw, start)
		fields = append(fields, member{key: raw[i:keyEnd], value: raw[start:end:end]})
		if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return fields, true
}

// unquote decodes a JSON string; ok is false when raw is not one.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 { // no escapes: the bytes are the text (UTF-8 checked)
		return string(raw[1 : len(raw)-1]), true
	}
	var text string
	if json.Unmarshal(raw, &text) != nil {
		return "", false
	}
	return text, true
}

// parseInteger reads an integer literal (rpc.ids: no fraction, no exponent).
func parseInteger(raw []byte) (int64, bool) {
	if !integerLiteral(raw) {
		return 0, false
	}
	value, err := strconv.ParseInt(string(raw), 10, 64)
	return value, err == nil
}

// integerLiteral reports whether raw is -?(0|[1-9][0-9]*).
func integerLiteral(raw []byte) bool {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
