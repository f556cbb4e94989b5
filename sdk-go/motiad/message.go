package motiad

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// kind is what a line turned out to be (SPEC §2 and rpc.error-order).
type kind int

const (
	kindBad          kind = iota // answer with code/id
	kindRequest                  // a request: method, id, params
	kindNotification             // a notification: method, params
	kindResponse                 // a response to match against pending requests
	kindDrop                     // a malformed response: never answered, only logged
)

// message is one classified line.
type message struct {
	kind    kind
	code    int    // kindBad: the error to answer
	why     string // kindBad, kindDrop: what was wrong
	id      json.RawMessage
	method  string
	params  json.RawMessage // nil when absent
	result  json.RawMessage
	errObj  *RPCError
	isError bool
}

// validID reports whether raw is an id a request may carry: an integer or a
// string (rpc.ids).
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	if raw[0] == '"' {
		return true
	}
	return integerLiteral(raw)
}

var nullID = json.RawMessage("null")

// classify reads one line in the order of rpc.error-order: UTF-8 and JSON,
// then the envelope. Method and params are the dispatcher's business.
func classify(line []byte) message {
	if !utf8.Valid(line) {
		return undecodable(line, "the line is not valid UTF-8")
	}
	if !json.Valid(line) {
		var raw json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil && strings.Contains(err.Error(), "exceeded max depth") {
			return undecodable(line, "JSON nested too deeply for this SDK")
		}
		return message{kind: kindBad, code: codeParseError, why: "parse error: not valid JSON", id: nullID}
	}
	trimmed := bytes.TrimLeft(line, " \t\r\n")
	if trimmed[0] != '{' {
		return message{kind: kindBad, code: codeInvalidRequest, why: "invalid request: not a JSON object", id: nullID}
	}
	fields, _ := members(trimmed) // an object, and valid JSON: checked above
	id, hasID := fields.get("id")
	replyID := nullID
	if hasID && validID(id) {
		replyID = id
	}
	methodRaw, hasMethod := fields.get("method")
	result, hasResult := fields.get("result")
	errRaw, hasError := fields.get("error")
	looksLikeResponse := !hasMethod && (hasResult || hasError)
	if version, ok := unquote(fields.value("jsonrpc")); !ok || version != "2.0" {
		if looksLikeResponse {
			return message{kind: kindDrop, why: `a response without "jsonrpc": "2.0"`}
		}
		return message{kind: kindBad, code: codeInvalidRequest, why: `invalid request: "jsonrpc" must be "2.0"`, id: replyID}
	}
	if looksLikeResponse {
		return classifyResponse(id, hasID, result, hasResult, errRaw, hasError)
	}
	if !hasMethod {
		return message{kind: kindBad, code: codeInvalidRequest, why: "invalid request: no method, result or error", id: replyID}
	}
	method, ok := unquote(methodRaw)
	if !ok {
		return message{kind: kindBad, code: codeInvalidRequest, why: "invalid request: method must be a string", id: replyID}
	}
	params := fields.value("params")
	if !hasID {
		return message{kind: kindNotification, method: method, params: params}
	}
	if !validID(id) {
		return message{kind: kindBad, code: codeInvalidRequest, why: "invalid request: id must be an integer or a string", id: nullID}
	}
	return message{kind: kindRequest, method: method, id: id, params: params}
}

// leadingID is the start of a message as every sender writes it (rpc.undecodable).
var leadingID = regexp.MustCompile(`^[ \t]*\{[ \t]*"jsonrpc"[ \t]*:[ \t]*"2\.0"[ \t]*,[ \t]*"id"[ \t]*:[ \t]*(-?[0-9]+|"[^"\\]*")[ \t]*,[ \t]*"(method|result|error)"`)

// undecodable ties a line that cannot be decoded for its text to the id its
// start shows (rpc.undecodable): a request is answered by that id, a response
// fails our request of that id; without one, -32700 with id null.
func undecodable(line []byte, why string) message {
	found := leadingID.FindSubmatch(line)
	if found == nil || !utf8.Valid(found[1]) {
		return message{kind: kindBad, code: codeParseError, why: "parse error: " + why, id: nullID}
	}
	id := json.RawMessage(found[1])
	if string(found[2]) == "method" {
		return message{kind: kindBad, code: codeParseError, why: "parse error: " + why, id: id}
	}
	failure := &RPCError{Code: codeParseError, Message: "the broker's answer could not be read: " + why}
	return message{kind: kindResponse, id: id, errObj: failure, isError: true}
}

func classifyResponse(id json.RawMessage, hasID bool, result json.RawMessage, hasResult bool, errRaw json.RawMessage, hasError bool) message {
	if hasResult && hasError {
		return message{kind: kindDrop, why: "a response with both result and error"}
	}
	var errObj *RPCError
	if hasError {
		shape, isObject := members(errRaw)
		if !isObject {
			return message{kind: kindDrop, why: "a response whose error is not an object"}
		}
		code, isInteger := parseInteger(shape.value("code"))
		text, isText := unquote(shape.value("message"))
		if !isInteger || !isText {
			return message{kind: kindDrop, why: "a response whose error is not {code: integer, message: string}"}
		}
		errObj = &RPCError{Code: int(code), Message: text}
		if data, ok := shape.get("data"); ok {
			errObj.Data = data
		}
	}
	if !hasID || string(id) == "null" {
		if hasError {
			return message{kind: kindDrop, why: "the broker could not read a line we sent: " + errObj.Message}
		}
		return message{kind: kindDrop, why: "a result with id null"}
	}
	if !validID(id) {
		return message{kind: kindDrop, why: "a response with an id that is not an integer or a string"}
	}
	return message{kind: kindResponse, id: id, result: result, errObj: errObj, isError: hasError}
}
