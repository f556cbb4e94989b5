package motiad

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"
)

// wait bounds every wait of a test on the child (never a sleep).
const wait = 5 * time.Second

// peer plays the broker against an in-process child over pipes.
type peer struct {
	t      *testing.T
	in     *io.PipeWriter
	lines  chan []byte
	ended  chan struct{}
	nextID int
}

func startChild(t *testing.T) *peer {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &peer{t: t, in: inW, lines: make(chan []byte, 256), ended: make(chan struct{}), nextID: 1000}
	go func() {
		serve(inR, outW, io.Discard)
		outW.Close()
		close(p.ended)
	}()
	go func() {
		scanner := bufio.NewScanner(outR)
		scanner.Buffer(make([]byte, 1<<20), 1<<26)
		for scanner.Scan() {
			p.lines <- append([]byte(nil), scanner.Bytes()...)
		}
		close(p.lines)
	}()
	t.Cleanup(func() { inW.Close() })
	return p
}

func (p *peer) write(line []byte) {
	p.t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := p.in.Write(append(append([]byte(nil), line...), '\n'))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("writing to the child: %v", err)
		}
	case <-time.After(wait):
		p.t.Fatalf("the child did not read a line within %s", wait)
	}
}

func (p *peer) send(message map[string]any) {
	p.t.Helper()
	line, err := json.Marshal(message)
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(line)
}

// next is the child's next line, as an object.
func (p *peer) next() map[string]json.RawMessage {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("the child closed its output")
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			p.t.Fatalf("the child wrote a line that is not a JSON object: %q", line)
		}
		return fields
	case <-time.After(wait):
		p.t.Fatalf("no line from the child within %s", wait)
	}
	return nil
}

// request sends a request and returns its id.
func (p *peer) request(method string, params any) int {
	p.t.Helper()
	p.nextID++
	message := map[string]any{"jsonrpc": "2.0", "id": p.nextID, "method": method}
	if params != nil {
		message["params"] = params
	}
	p.send(message)
	return p.nextID
}

// until reads lines until the answer to id, serving what the handler asks
// with serve (nil: none expected) and returning the answer.
func (p *peer) until(id int, serve func(map[string]json.RawMessage) any) map[string]json.RawMessage {
	p.t.Helper()
	want := fmt.Sprint(id)
	for {
		line := p.next()
		if _, isRequest := line["method"]; isRequest {
			if _, hasID := line["id"]; hasID && serve != nil {
				p.send(map[string]any{"jsonrpc": "2.0", "id": line["id"], "result": serve(line)})
			}
			continue
		}
		if string(line["id"]) == want {
			return line
		}
	}
}

func (p *peer) initialize(steps []string, maxLineBytes int) map[string]json.RawMessage {
	p.t.Helper()
	if steps == nil {
		steps = []string{}
	}
	params := map[string]any{"protocolVersion": "1.0", "project": "/srv/project", "steps": steps}
	if maxLineBytes > 0 {
		params["maxLineBytes"] = maxLineBytes
	}
	answer := p.until(p.request("initialize", params), nil)
	if _, ok := answer["result"]; !ok {
		p.t.Fatalf("initialize failed: %s", answer["error"])
	}
	return answer
}

func errorCode(t *testing.T, answer map[string]json.RawMessage) int {
	t.Helper()
	var e struct {
		Code int `json:"code"`
	}
	if raw, ok := answer["error"]; !ok || json.Unmarshal(raw, &e) != nil {
		t.Fatalf("expected an error answer, got %v", stringify(answer))
	}
	return e.Code
}

func stringify(fields map[string]json.RawMessage) string {
	b, _ := json.Marshal(fields)
	return string(b)
}
