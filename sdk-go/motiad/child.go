package motiad

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// ProtocolVersion is the version of protocol/SPEC.md this SDK speaks.
	ProtocolVersion = "1.0"
	// Version is this SDK's version, sent in initialize.
	Version        = "0.1.0"
	sdkName        = "motiad-sdk-go"
	defaultMaxLine = 16 * 1024 * 1024
	// shutdownGrace is how long running handlers may finish after shutdown
	// (SPEC lifecycle.shutdown: at most 10 seconds).
	shutdownGrace = 10 * time.Second
)

// child is one protocol session: it reads lines from the broker, serves its
// requests, and sends service requests for running handlers.
type child struct {
	out     *writer
	limit   atomic.Int64
	diag    io.Writer // where the SDK's own diagnostics go (stderr)
	done    chan struct{}
	endOnce sync.Once

	mu          sync.Mutex
	initialized bool
	stopping    bool
	loaded      map[string]*Step
	running     map[string]*invocation
	drained     chan struct{} // closed once stopping and every invocation is answered
	answering   int           // invocations taken out of running whose answer is being sent
	pending     map[int64]chan reply
	nextID      int64
}

type reply struct {
	result json.RawMessage
	err    *RPCError
}

// invocation is one running handler; answer sends its one response.
type invocation struct {
	key    string
	id     json.RawMessage
	cancel context.CancelFunc
	timer  *time.Timer // the timeoutMs budget, when there is one
}

func newChild(out io.Writer, diag io.Writer) *child {
	c := &child{
		diag:    diag,
		done:    make(chan struct{}),
		loaded:  map[string]*Step{},
		running: map[string]*invocation{},
		drained: make(chan struct{}),
		pending: map[int64]chan reply{},
	}
	c.limit.Store(defaultMaxLine)
	c.out = newWriter(out, c.end)
	return c
}

// end stops the session (shutdown answered, end of input, or stdout gone).
func (c *child) end() { c.endOnce.Do(func() { close(c.done) }) }

// Serve runs the protocol on in/out until shutdown or the end of in, with
// the registered steps. Main calls it on the process's real stdin/stdout.
func Serve(in io.Reader, out io.Writer) { serve(in, out, os.Stderr) }

func serve(in io.Reader, out io.Writer, diag io.Writer) {
	c := newChild(out, diag)
	go c.read(in)
	<-c.done
	c.out.close()
}

func (c *child) read(in io.Reader) {
	lines := newLineReader(in, func() int { return int(c.limit.Load()) })
	for {
		line, tooLong, err := lines.next()
		if err != nil {
			c.end() // the broker is gone (lifecycle.stdin-eof)
			return
		}
		if tooLong {
			c.sendError(nullID, codeLineTooLong, fmt.Sprintf("line too long: over the limit of %d bytes", c.limit.Load()), nil)
			continue
		}
		c.handle(line)
	}
}

func (c *child) handle(line []byte) {
	msg := classify(line)
	switch msg.kind {
	case kindBad:
		c.sendError(msg.id, msg.code, msg.why, nil)
	case kindDrop:
		c.diagf("dropped a line from the broker: %s", msg.why)
	case kindResponse:
		c.settle(msg)
	case kindNotification:
		if msg.method == "$/cancel" {
			if id, ok := cancelTarget(msg.params); ok {
				c.cancel(string(id), codeCancelled, "cancelled")
			} else {
				c.diagf("ignored $/cancel with bad params")
			}
		}
	case kindRequest:
		c.request(msg)
	}
}

func (c *child) request(msg message) {
	switch msg.method {
	case "initialize":
		c.initialize(msg)
	case "ping":
		if _, bad := object(msg.params, "$.params"); bad != nil {
			c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
			return
		}
		c.sendResult(msg.id, struct{}{})
	case "shutdown":
		if _, bad := object(msg.params, "$.params"); bad != nil {
			c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
			return
		}
		c.shutdown(msg.id)
	case "invoke":
		c.invoke(msg)
	default:
		c.sendError(msg.id, codeMethodNotFound, "method not found: "+msg.method, nil)
	}
}

func (c *child) initialize(msg message) {
	c.mu.Lock()
	already := c.initialized
	c.mu.Unlock()
	if already {
		c.sendError(msg.id, codeInvalidRequest, "invalid request: already initialized", nil)
		return
	}
	p, bad := parseInitialize(msg.params)
	if bad != nil {
		c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
		return
	}
	if p.major != "1" {
		c.sendError(msg.id, codeVersionMismatch, fmt.Sprintf(
			"protocol version mismatch: the broker speaks %s, %s %s speaks %s", p.version, sdkName, Version, ProtocolVersion), nil)
		return
	}
	type entry struct {
		Path   string     `json:"path"`
		Config Config     `json:"config,omitempty"`
		Error  *ErrorInfo `json:"error,omitempty"`
	}
	entries := make([]entry, 0, len(p.steps))
	loaded := map[string]*Step{}
	for _, path := range p.steps {
		step, err := loadStep(path)
		if err != nil {
			entries = append(entries, entry{Path: path, Error: &ErrorInfo{Type: "LoadError", Message: err.Error(), Retryable: false}})
			continue
		}
		loaded[path] = step
		entries = append(entries, entry{Path: path, Config: step.Config})
	}
	c.mu.Lock()
	c.initialized = true
	c.loaded = loaded
	c.mu.Unlock()
	c.limit.Store(p.maxLineBytes)
	c.sendResult(msg.id, map[string]any{
		"protocolVersion": ProtocolVersion,
		"sdk":             map[string]string{"name": sdkName, "version": Version, "language": "go"},
		"steps":           entries,
	})
}

// loadStep finds the step compiled in from path, checking what the broker
// cannot: a handler for every step that runs, a config JSON can carry.
func loadStep(path string) (*Step, error) {
	step, ok := lookup(path)
	if !ok {
		return nil, fmt.Errorf("no Go step was registered from %s in this runner: the file must call motiad.Register in an init function, and be compiled in (rebuild the runner after adding a file)", path)
	}
	if step.err != nil {
		return nil, step.err
	}
	if step.Config == nil {
		return nil, fmt.Errorf("%s registered a nil config", path)
	}
	if _, err := json.Marshal(step.Config); err != nil {
		return nil, fmt.Errorf("the config of %s cannot be encoded as JSON: %v", path, err)
	}
	if step.Handler == nil && !step.noop() {
		return nil, fmt.Errorf("%s registered no handler (only a noop step may have none)", path)
	}
	return step, nil
}

func (c *child) invoke(msg message) {
	c.mu.Lock()
	stopping, initialized := c.stopping, c.initialized
	c.mu.Unlock()
	if stopping {
		c.sendError(msg.id, codeShuttingDown, "shutting down: no new invocations", nil)
		return
	}
	if !initialized {
		c.sendError(msg.id, codeInvalidRequest, "invalid request: not initialized", nil)
		return
	}
	p, bad := parseInvoke(msg.params)
	if bad != nil {
		c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
		return
	}
	key := string(msg.id)
	ctx, cancel := context.WithCancel(context.Background())
	inv := &invocation{key: key, id: msg.id, cancel: cancel}
	c.mu.Lock()
	if _, duplicate := c.running[key]; duplicate {
		c.mu.Unlock()
		cancel()
		c.sendError(msg.id, codeInvalidRequest, "invalid request: an invocation with this id is running", nil)
		return
	}
	step := c.loaded[p.step]
	if step == nil || step.noop() {
		c.mu.Unlock()
		cancel()
		c.sendError(msg.id, codeUnknownStep, "unknown step: "+p.step, nil)
		return
	}
	c.running[key] = inv
	c.mu.Unlock()
	if p.timeoutMs > 0 {
		timer := time.AfterFunc(time.Duration(p.timeoutMs)*time.Millisecond, func() {
			c.cancel(key, codeTimedOut, fmt.Sprintf("timed out after %d ms", p.timeoutMs))
		})
		c.mu.Lock()
		inv.timer = timer
		c.mu.Unlock()
	}
	hctx := &Context{
		Context:      ctx,
		TraceID:      p.traceID,
		InvocationID: p.invocationID,
		Trigger:      p.trigger,
		Attempt:      int(p.attempt),
		child:        c,
	}
	hctx.State = &State{ctx: hctx}
	hctx.Logger = &Logger{ctx: hctx}
	go c.run(inv, step, hctx, p)
}

// run calls the handler and answers the invoke, unless a cancel or the
// timer answered it first (then the result is dropped: invoke.cancel).
func (c *child) run(inv *invocation, step *Step, ctx *Context, p *invokeParams) {
	defer inv.cancel()
	value, err, stack := callHandler(step.Handler, ctx, p.input)
	if err != nil {
		info := errorInfo(err, stack)
		c.finish(inv, func() { c.sendError(inv.id, codeHandlerFailed, "handler failed: "+info.Message, info) })
		return
	}
	result, info := shapeResult(p.trigger.Type, value)
	if info != nil {
		c.finish(inv, func() { c.sendError(inv.id, codeHandlerFailed, "handler failed: "+info.Message, info) })
		return
	}
	c.finish(inv, func() { c.sendRaw(inv.id, result) })
}

// callHandler runs the handler, turning a panic into an error with its stack.
func callHandler(handler Handler, ctx *Context, input json.RawMessage) (value any, err error, stack string) {
	defer func() {
		if recovered := recover(); recovered != nil {
			if e, ok := recovered.(error); ok {
				err = e
			} else {
				err = &PanicError{Value: fmt.Sprint(recovered)}
			}
			stack = string(debug.Stack())
		}
	}()
	value, err = handler(ctx, input)
	return value, err, ""
}

// PanicError is a handler's panic with a value that is not an error.
type PanicError struct{ Value string }

func (e *PanicError) Error() string { return "panic: " + e.Value }

// shapeResult is the invoke result for a trigger type (invoke.result): an
// api response object checked for an integer status, else null.
func shapeResult(trigger string, value any) (json.RawMessage, *ErrorInfo) {
	if trigger != "api" {
		return json.RawMessage("null"), nil
	}
	encoded, err := marshal(value)
	if err != nil {
		return nil, &ErrorInfo{Type: "UnencodableResult", Message: "the api response cannot be encoded as JSON: " + err.Error()}
	}
	var shape map[string]json.RawMessage
	if json.Unmarshal(encoded, &shape) != nil {
		return nil, &ErrorInfo{Type: "InvalidApiResponse", Message: fmt.Sprintf("an api handler must return {status, body?, headers?}, got %s", clip(encoded))}
	}
	if status, ok := shape["status"]; !ok || !integerLiteral.Match(status) {
		return nil, &ErrorInfo{Type: "InvalidApiResponse", Message: "an api response needs an integer status"}
	}
	if headers, ok := shape["headers"]; ok && (len(headers) == 0 || headers[0] != '{') {
		return nil, &ErrorInfo{Type: "InvalidApiResponse", Message: "api response headers must be an object"}
	}
	return encoded, nil
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// finish sends an invocation's one answer, if it has not been answered yet.
func (c *child) finish(inv *invocation, send func()) {
	c.mu.Lock()
	current, ok := c.running[inv.key]
	if !ok || current != inv {
		c.mu.Unlock()
		return
	}
	delete(c.running, inv.key)
	c.answering++
	if inv.timer != nil {
		inv.timer.Stop()
	}
	c.mu.Unlock()
	send()
	c.mu.Lock()
	c.answering--
	c.checkDrained()
	c.mu.Unlock()
}

// checkDrained lets shutdown answer once every invocation has been answered
// (lifecycle.shutdown). Called with mu held.
func (c *child) checkDrained() {
	if c.stopping && len(c.running) == 0 && c.answering == 0 {
		closeOnce(c.drained)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// cancel stops the invocation whose request id is key and answers it with
// code at once; a handler that ignores its context runs on, unobserved.
func (c *child) cancel(key string, code int, why string) {
	c.mu.Lock()
	inv, ok := c.running[key]
	c.mu.Unlock()
	if !ok {
		return // unknown or finished: ignored (invoke.cancel)
	}
	// Answer first: a handler that returns as soon as its context ends must
	// not answer with its result in between.
	c.finish(inv, func() { c.sendError(inv.id, code, why, nil) })
	inv.cancel()
}

func (c *child) shutdown(id json.RawMessage) {
	c.mu.Lock()
	c.stopping = true
	c.checkDrained()
	c.mu.Unlock()
	go func() {
		select {
		case <-c.drained:
		case <-time.After(shutdownGrace):
			c.mu.Lock()
			keys := make([]string, 0, len(c.running))
			for key := range c.running {
				keys = append(keys, key)
			}
			c.mu.Unlock()
			for _, key := range keys {
				c.cancel(key, codeCancelled, "cancelled: shutting down")
			}
		}
		c.sendRaw(id, json.RawMessage("null"))
		c.end()
	}()
}

// --- service requests (child → broker) ---------------------------------------

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
	var id int64
	if err := json.Unmarshal(msg.id, &id); err != nil {
		c.diagf("ignored a response to id %s, which this SDK never sent", msg.id)
		return
	}
	c.mu.Lock()
	answer, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !ok {
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
		c.sendError(id, codeInternal, "internal error: "+err.Error(), nil)
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
		if runes := []rune(text); len(runes) > maxErrorMessageChars {
			text = string(runes[:maxErrorMessageChars])
		}
		encoded, _ = marshal(map[string]any{"code": code, "message": text})
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

// --- the single writer ------------------------------------------------------

// writer owns the protocol output: every line goes through its one
// goroutine, which flushes when nothing more is queued, so lines queued
// together go out in one write. A failed write ends the session
// (lifecycle.stdin-eof: the pipe is closed).
type writer struct {
	lines   chan []byte
	closing chan struct{}
	stopped chan struct{}
	onFail  func()
}

func newWriter(out io.Writer, onFail func()) *writer {
	w := &writer{
		lines:   make(chan []byte, 1024),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		onFail:  onFail,
	}
	go w.loop(bufio.NewWriterSize(out, 64*1024))
	return w
}

// send queues one line (without its newline); after close it is dropped.
func (w *writer) send(line []byte) {
	select {
	case w.lines <- line:
	case <-w.closing:
	}
}

func (w *writer) loop(buffered *bufio.Writer) {
	defer close(w.stopped)
	write := func(line []byte) bool {
		_, err := buffered.Write(line)
		if err == nil {
			err = buffered.WriteByte('\n')
		}
		if err == nil && len(w.lines) == 0 {
			err = buffered.Flush()
		}
		if err != nil {
			w.onFail()
		}
		return err == nil
	}
	for {
		select {
		case line := <-w.lines:
			if !write(line) {
				return
			}
		case <-w.closing:
			for {
				select {
				case line := <-w.lines:
					if !write(line) {
						return
					}
				default:
					_ = buffered.Flush()
					return
				}
			}
		}
	}
}

// close writes out what is queued; lines sent after it are dropped.
func (w *writer) close() {
	close(w.closing)
	<-w.stopped
}
