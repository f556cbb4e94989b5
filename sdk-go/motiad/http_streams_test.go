package motiad

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
)

const bodyStep = "/srv/project/steps/body-stream.step.go"

// The handler reads its body as a stream and writes a chunk per piece read:
// SPEC http.body-stream and http.stream.
func init() {
	RegisterFile(bodyStep, Config{"name": "BodyStream", "type": "api", "path": "/body", "method": "POST", "streamBody": true},
		func(ctx *Context, input json.RawMessage) (any, error) {
			response := ctx.StreamResponse(202, map[string]string{"x-kind": "sizes"})
			body := ctx.BodyStream()
			buf := make([]byte, 1<<20)
			total := 0
			for {
				n, err := body.Read(buf)
				if n > 0 {
					total += n
					if _, err := fmt.Fprintf(response, "%d\n", n); err != nil {
						return nil, err
					}
				}
				var cut *BodyStreamError
				if errors.As(err, &cut) {
					_, _ = fmt.Fprintf(response, "cut: %s\n", cut.Message)
					break
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, err
				}
			}
			return Response{Status: 200, Body: map[string]int{"total": total}}, nil
		})
}

func piece(text string, done bool) map[string]any {
	return map[string]any{"chunk": base64.StdEncoding.EncodeToString([]byte(text)), "done": done}
}

// streamedBody runs the body step, answering its http.read requests with
// answers in turn; returns the chunks it wrote, the first write's params and
// the invoke's answer. Each read must come only after the one before was
// answered: the peer answers in the order the child asks.
func streamedBody(t *testing.T, answers []map[string]any) ([]string, map[string]json.RawMessage, map[string]json.RawMessage) {
	p := startChild(t)
	p.initialize([]string{bodyStep}, 0)
	input := map[string]any{"method": "POST", "path": "/body", "body": nil, "bodyStream": true}
	var written []string
	var head map[string]json.RawMessage
	reads := 0
	answer := p.until(invoke(p, bodyStep, map[string]any{"type": "api"}, input, 30000),
		func(request map[string]json.RawMessage) any {
			var method string
			_ = json.Unmarshal(request["method"], &method)
			var params map[string]json.RawMessage
			_ = json.Unmarshal(request["params"], &params)
			switch method {
			case "http.read":
				if reads >= len(answers) {
					t.Fatalf("http.read #%d after the body's end", reads+1)
				}
				reads++
				return answers[reads-1]
			case "http.write":
				if head == nil {
					head = params
				}
				var chunk string
				_ = json.Unmarshal(params["chunk"], &chunk)
				decoded, _ := base64.StdEncoding.DecodeString(chunk)
				written = append(written, string(decoded))
				return nil
			}
			t.Fatalf("unexpected request %s", method)
			return nil
		})
	return written, head, answer
}

func TestABodyIsReadOnePieceAtATimeAndTheResponseStreamsItsHeadFirst(t *testing.T) {
	written, head, answer := streamedBody(t, []map[string]any{piece("abc", false), piece("xxxxx", false), piece("", true)})
	if fmt.Sprint(written) != "[3\n 5\n]" {
		t.Fatalf("written %q", written)
	}
	if string(head["status"]) != "202" || string(head["headers"]) != `{"x-kind":"sizes"}` {
		t.Fatalf("first write %s", stringify(head))
	}
	if got := string(answer["result"]); got != `{"status":200,"body":{"total":8}}` {
		t.Fatalf("answer %s", got)
	}
}

func TestABodyCutShortReadsAsABodyStreamError(t *testing.T) {
	cut := map[string]any{"chunk": "", "done": true, "error": "the client closed the connection"}
	written, _, answer := streamedBody(t, []map[string]any{piece("ab", false), cut})
	if fmt.Sprint(written) != "[2\n cut: the client closed the connection\n]" {
		t.Fatalf("written %q", written)
	}
	if got := string(answer["result"]); got != `{"status":200,"body":{"total":2}}` {
		t.Fatalf("answer %s", got)
	}
}
