package motiad

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Service requests (child → broker) and answers (child → broker responses).

// call sends a request to the broker for a running handler and waits for its
// answer, or for the handler's context to end.
func (c *child) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	answer := make(chan reply, 1)
	c.pending[id] = answer
	c.mu.Unlock()
	line, err := marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err == nil && len(line) > int(c.limit.Load()) {
		err = fmt.Errorf("%s request of %d bytes exceeds the line limit of %d bytes; not sent", method, len(line), c.limit.Load())
	}
	if err != nil {
		c.forget(id)
		return nil, err
	}
	c.out.send(line)
	select {
	case r := <-answer:
		if r.err != nil {
			return nil, r.err
		}
		return r.result, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	case <-c.done:
		return nil, fmt.Errorf("%s: the broker is gone", method)
	}
}

func (c *child) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// settle hands a response to the request waiting for it; an unknown id is
// ignored (rpc.unknown-id), and a response is never answered.
func (c *child) settle(msg message) {
	id, ok := parseInteger(msg.id)
	if !ok {
		c.diagf("ignored a response to id %s, which this SDK never sent", msg.id)
		return
	}
	c.mu.Lock()
	answer, pending := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !pending {
		c.diagf("ignored a response to unknown id %d", id)
		return
	}
	answer <- reply{result: msg.result, err: msg.errObj}
}

func (c *child) notify(method string, params any) {
	line, err := marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
	if err != nil {
		c.diagf("%s not sent: %v", method, err)
		return
	}
	if len(line) > int(c.limit.Load()) {
		c.diagf("%s of %d bytes not sent: over the line limit of %d bytes: %s", method, len(line), c.limit.Load(), clip(line))
		return
	}
	c.out.send(line)
}

// --- answers -----------------------------------------------------------------

func (c *child) sendResult(id json.RawMessage, result any) {
	encoded, err := marshal(result)
	if err != nil {
		c.sendError(id, codeInternalError, "internal error: "+err.Error(), nil)
		return
	}
	c.sendRaw(id, encoded)
}

// sendRaw answers with an encoded result, or -32005 when the line would be
// over the limit (framing.max-line.send).
func (c *child) sendRaw(id json.RawMessage, result json.RawMessage) {
	line := responseLine(id, "result", result)
	if limit := int(c.limit.Load()); len(line) > limit {
		c.sendError(id, codeLineTooLong, fmt.Sprintf("line too long: the result is %d bytes, over the limit of %d bytes", len(line), limit), nil)
		return
	}
	c.out.send(line)
}

func (c *child) sendError(id json.RawMessage, code int, text string, data any) {
	object := map[string]any{"code": code, "message": text}
	if data != nil {
		object["data"] = data
	}
	encoded, err := marshal(object)
	if err == nil && len(responseLine(id, "error", encoded)) > int(c.limit.Load()) {
		err = fmt.Errorf("over the line limit")
	}
	if err != nil { // too long, or data that cannot be encoded: no data, a short message
		runes := []rune(text)
		if len(runes) > maxErrorMessageChars {
			runes = runes[:maxErrorMessageChars]
		}
		// Cut further, whole characters, while the line is over the limit
		// (framing.max-line.send); one that does not fit even empty is not sent.
		for {
			encoded, _ = marshal(map[string]any{"code": code, "message": string(runes)})
			over := len(responseLine(id, "error", encoded)) - int(c.limit.Load())
			if over <= 0 {
				break
			}
			if len(runes) == 0 {
				fmt.Fprintf(c.diag, "motiad-sdk-go: error %d not sent: over the line limit\n", code)
				return
			}
			if over > len(runes) {
				over = len(runes)
			}
			runes = runes[:len(runes)-over]
		}
	}
	c.out.send(responseLine(id, "error", encoded))
}

func responseLine(id json.RawMessage, member string, value json.RawMessage) []byte {
	var b bytes.Buffer
	b.Grow(len(value) + len(id) + 32)
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(id)
	b.WriteString(`,"` + member + `":`)
	b.Write(value)
	b.WriteByte('}')
	return b.Bytes()
}

// marshal encodes v as compact JSON without escaping <, > and & (they are
// fine in a protocol line) and without the encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	encoder := json.NewEncoder(&b)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (c *child) diagf(format string, args ...any) {
	fmt.Fprintf(c.diag, "motiad-sdk-go: "+format+"\n", args...)
}
