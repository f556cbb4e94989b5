package motiad

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// Version is this SDK's version, sent in initialize.
	Version = "0.1.0"
	sdkName = "motiad-sdk-go"
	// shutdownGrace is how long running handlers may finish after shutdown
	// (SPEC lifecycle.shutdown).
	shutdownGrace = shutdownGraceMs * time.Millisecond
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
	workers     workers
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
		workers: workers{jobs: make(chan func())},
	}
	c.limit.Store(defaultMaxLineBytes)
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
		if msg.method == methodCancel {
			if id, ok := cancelTarget(msg.params); ok {
				c.cancel(string(id), codeCancelled, "cancelled")
			} else {
				c.diagf("ignored $/cancel with bad params")
			}
		} else if msg.method == methodTitle {
			if title, ok := titleOf(msg.params); ok {
				setTitle(title)
			}
		}
	case kindRequest:
		c.request(msg)
	}
}

func (c *child) request(msg message) {
	switch msg.method {
	case methodInitialize:
		c.initialize(msg)
	case methodPing:
		if _, bad := object(msg.params, "$.params"); bad != nil {
			c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
			return
		}
		c.sendResult(msg.id, struct{}{})
	case methodShutdown:
		if _, bad := object(msg.params, "$.params"); bad != nil {
			c.sendError(msg.id, codeInvalidParams, bad.Error(), map[string]string{"path": bad.path})
			return
		}
		c.shutdown(msg.id)
	case methodInvoke:
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
	if p.major != "1" { // SPEC lifecycle.version: majors are numbers, "01.0" is major 1
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
