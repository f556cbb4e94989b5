package motiad

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

func (c *child) invoke(msg message) {
	// rpc.error-order: the params first, then what invoke itself checks.
	p, bad := parseInvoke(msg.params)
	if bad != nil {
		c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
		return
	}
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
		Traceparent:  p.traceparent,
		Trigger:      p.trigger,
		Attempt:      int(p.attempt),
		child:        c,
	}
	hctx.State = &State{ctx: hctx}
	hctx.Logger = &Logger{ctx: hctx}
	c.workers.start(func() { c.run(inv, step, hctx, p) })
}

// maxIdleWorkers bounds the goroutines kept waiting for the next invocation:
// enough for the broker's usual concurrency, few enough to cost nothing idle.
const maxIdleWorkers = 64

// workers runs each invocation on a goroutine kept from an earlier one when
// one is idle: a new goroutine per invoke spent a good part of the child's CPU
// on creating it and growing its stack to the handler's depth.
type workers struct {
	jobs chan func()  // unbuffered: a send succeeds only when a worker waits
	idle atomic.Int32 // workers waiting on jobs
}

func (w *workers) start(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.loop(job)
	}
}

func (w *workers) loop(job func()) {
	for {
		job()
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		job = <-w.jobs
		w.idle.Add(-1)
	}
}

// run calls the handler and answers the invoke, unless a cancel or the
// timer answered it first (then the result is dropped: invoke.cancel).
func (c *child) run(inv *invocation, step *Step, ctx *Context, p *invokeParams) {
	defer inv.cancel()
	defer func() {
		// invoke.sdk-failure: a panic while shaping the answer (a MarshalJSON
		// or an Error method of the handler's values) still answers it.
		if recovered := recover(); recovered != nil {
			info := &ErrorInfo{Type: "PanicError", Message: fmt.Sprint(recovered), Stack: string(debug.Stack())}
			c.finish(inv, func() { c.sendError(inv.id, codeHandlerFailed, "handler failed: "+info.Message, info) })
		}
	}()
	if p.trigger.Refusal != nil {
		c.finish(inv, func() { c.sendRaw(inv.id, p.trigger.Refusal) })
		return
	}
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
	shape, isObject := members(encoded)
	if !isObject {
		return nil, &ErrorInfo{Type: "InvalidApiResponse", Message: fmt.Sprintf("an api handler must return {status, body?, headers?}, got %s", clip(encoded))}
	}
	if status, ok := shape.get("status"); !ok || !integerLiteral(status) {
		return nil, &ErrorInfo{Type: "InvalidApiResponse", Message: "an api response needs an integer status"}
	}
	if headers, ok := shape.get("headers"); ok && (len(headers) == 0 || headers[0] != '{') {
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
