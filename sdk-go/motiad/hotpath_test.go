package motiad

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The child's own work per invoke, without the pipes: classify the line, check
// its params, shape the result and build the answer (bench/ measures the whole
// round trip; this shows where the child's share goes).
func BenchmarkInvokeHotPath(b *testing.B) {
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		line := []byte(`{"jsonrpc":"2.0","id":` + strconv.Itoa(n) + `,"method":"invoke","params":{"step":"/tmp/bench/noop/steps/noop.step.go","trigger":{"type":"event","topic":"noop","eventId":"01JEXAMPLE0000000000000000","messageGroupId":null},"input":{"n":1,"text":"hello"},"traceId":"4f0c2a9e1b7d4c3a8e6f5d2c1b0a9e8d","invocationId":"inv-01JEXAMPLE","attempt":1,"timeoutMs":30000}}`)
		msg := classify(line)
		if msg.kind != kindRequest || msg.method != methodInvoke {
			b.Fatalf("classified as %v", msg)
		}
		p, bad := parseInvoke(msg.params)
		if bad != nil {
			b.Fatal(bad)
		}
		result, info := shapeResult(p.trigger.Type, nil)
		if info != nil {
			b.Fatal(info)
		}
		_ = responseLine(msg.id, "result", result)
	}
}

// members reads every object the way encoding/json does: the vectors' lines and
// a few shapes they do not have (escaped keys, spacing, nesting, duplicates).
func TestMembersAgreesWithEncodingJSON(t *testing.T) {
	_, vectors := loadVectors(t)
	objects := []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}] ,"d":"x\"y"} `, `{"\u0069d":7,"id":8}`,
		`{"a":{"b":{"c":[[],{}]}},"e":-1.5e3,"f":true,"g":null,"h":"\\"}`,
	}
	for _, v := range vectors {
		if line := lineOf(t, v); json.Valid(line) && bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
			objects = append(objects, string(line))
		}
	}
	for _, object := range objects {
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(object), &want); err != nil {
			t.Fatalf("%s: %v", object, err)
		}
		got, ok := members([]byte(strings.TrimSpace(object)))
		if !ok {
			t.Fatalf("%s: not read as an object", object)
		}
		for _, m := range got {
			if key, _ := unquote(m.key); want[key] == nil {
				t.Fatalf("%s: members found %s, which encoding/json does not", object, m.key)
			}
		}
		for key, value := range want {
			if !bytes.Equal(bytes.TrimSpace(value), got.value(key)) {
				t.Fatalf("%s: %q is %s, encoding/json says %s", object, key, got.value(key), value)
			}
		}
	}
}

var registerBenchStep sync.Once // the benchmark function runs more than once

// A whole sequential round trip through an in-process child on pipes: the
// invoke line in, the handler on its goroutine, the answer out.
func BenchmarkInvokeRoundTrip(b *testing.B) {
	const path = "/bench/noop.step.go"
	registerBenchStep.Do(func() {
		RegisterFile(path, Config{"name": "BenchNoop", "type": "event", "subscribes": []string{"noop"}},
			func(ctx *Context, input json.RawMessage) (any, error) { return nil, nil })
	})
	t := &testing.T{}
	p := startChild(t)
	p.initialize([]string{path}, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		id := p.request("invoke", map[string]any{"step": path, "trigger": map[string]any{"type": "event", "topic": "noop", "eventId": "e", "messageGroupId": nil},
			"input": map[string]any{"n": n}, "traceId": "trace", "invocationId": "inv", "attempt": 1, "timeoutMs": 30000})
		if answer := p.next(); string(answer["id"]) != strconv.Itoa(id) || string(answer["result"]) != "null" {
			b.Fatalf("answered %v", answer)
		}
	}
}
