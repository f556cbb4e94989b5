package motiad

import (
	"encoding/json"
	"testing"
)

// SPEC invoke.result: a []byte body goes as base64 with bodyEncoding.
func TestAByteBodyIsSentAsBase64(t *testing.T) {
	encoded, info := shapeResult("api", Response{Status: 200, Body: []byte{0, 255}})
	if info != nil {
		t.Fatal(info.Message)
	}
	var got map[string]any
	if err := json.Unmarshal(encoded, &got); err != nil {
		t.Fatal(err)
	}
	if got["body"] != "AP8=" || got["bodyEncoding"] != "base64" {
		t.Fatalf("got %s", encoded)
	}
	plain, _ := shapeResult("api", Response{Status: 200, Body: "hi"})
	if string(plain) != `{"status":200,"body":"hi"}` {
		t.Fatalf("got %s", plain)
	}
}

// SPEC invoke.input: a base64 body is the request's bytes.
func TestABase64RequestBodyReadsAsBytes(t *testing.T) {
	var req Request
	if err := json.Unmarshal([]byte(`{"body":"AP8=","bodyEncoding":"base64"}`), &req); err != nil {
		t.Fatal(err)
	}
	data, err := req.Bytes()
	if err != nil || string(data) != "\x00\xff" {
		t.Fatalf("got %q, %v", data, err)
	}
}

// SPEC invoke.refusal: the broker's 400 for a body that failed bodySchema.
func TestAnApiTriggerCarriesItsRefusal(t *testing.T) {
	p, bad := parseInvoke(json.RawMessage(`{"step":"s","trigger":{"type":"api","refusal":{"status":400,"body":{"error":"e"}}},"input":{},"traceId":"t","invocationId":"i"}`))
	if bad != nil {
		t.Fatal(bad)
	}
	if string(p.trigger.Refusal) != `{"status":400,"body":{"error":"e"}}` {
		t.Fatalf("got %s", p.trigger.Refusal)
	}
	if _, bad := parseInvoke(json.RawMessage(`{"step":"s","trigger":{"type":"api","refusal":5},"input":{},"traceId":"t","invocationId":"i"}`)); bad == nil {
		t.Fatal("a refusal that is no object was accepted")
	}
}
