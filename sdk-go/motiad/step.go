package motiad

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
)

// Config is a step's config, with Motia's field names ("name", "type",
// "path", "method", "subscribes", "emits", "bodySchema", "flows", ...). The
// broker validates it; the SDK sends it as it is.
type Config map[string]any

// Handler runs one invocation. input is the request for api steps
// (decode it into a Request), the event's data for event steps and null for
// cron steps. An api handler returns a Response (or any value that encodes as
// {"status": int, "body"?, "headers"?}); event and cron handlers return nil.
// A returned error fails the invocation (retryable unless NonRetryable).
type Handler func(ctx *Context, input json.RawMessage) (any, error)

// Step is one registered step: its config, its handler and the source file
// it was registered from.
type Step struct {
	Config  Config
	Handler Handler
	File    string
	err     error
}

func (s *Step) noop() bool { return s.Config["type"] == "noop" }

var (
	registryMu sync.Mutex
	registry   = map[string]*Step{}
)

// Register declares the step defined in the calling file. Call it from an
// init function of the step file; the broker names the file in initialize,
// and the runner answers with this config. A noop step passes a nil handler.
func Register(config Config, handler Handler) {
	_, file, _, ok := runtime.Caller(1)
	if !ok {
		panic("motiad.Register: cannot tell which file called it")
	}
	RegisterFile(file, config, handler)
}

// RegisterFile declares the step of file (an absolute path), for runners
// that host steps not registered from their own source file (tests).
func RegisterFile(file string, config Config, handler Handler) {
	registryMu.Lock()
	defer registryMu.Unlock()
	key := filepath.Clean(file)
	if existing, ok := registry[key]; ok {
		existing.err = fmt.Errorf("%s registers more than one step; put each step in its own file", filepath.Base(file))
		return
	}
	registry[key] = &Step{Config: config, Handler: handler, File: key}
}

// lookup finds the step registered from path: the same file, possibly
// reached through symbolic links.
func lookup(path string) (*Step, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if step, ok := registry[filepath.Clean(path)]; ok {
		return step, true
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, false
	}
	for file, step := range registry {
		if other, err := filepath.EvalSymlinks(file); err == nil && other == real {
			return step, true
		}
	}
	return nil, false
}

// Request is the input of an api step (SPEC invoke.input).
type Request struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Body        json.RawMessage   `json:"body"`
	Headers     map[string]string `json:"headers"`
	PathParams  map[string]string `json:"pathParams"`
	QueryParams map[string]any    `json:"queryParams"`
	// BodyEncoding is "base64" when the body is bytes (a content type that is
	// not JSON, a form or text): Body is then a JSON string; see Bytes.
	BodyEncoding string `json:"bodyEncoding,omitempty"`
}

// Bytes is the body as bytes: decoded from base64 when BodyEncoding says so,
// else the JSON text as it came.
func (r Request) Bytes() ([]byte, error) {
	if r.BodyEncoding != "base64" {
		return r.Body, nil
	}
	var decoded []byte // encoding/json reads a base64 string into a []byte
	err := json.Unmarshal(r.Body, &decoded)
	return decoded, err
}

// Response is what an api handler returns. A []byte Body is sent as bytes
// (application/octet-stream unless Headers say otherwise); a string as text.
type Response struct {
	Status  int               `json:"status"`
	Body    any               `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// MarshalJSON marks a []byte body as base64 (SPEC invoke.result), which is
// how encoding/json writes one.
func (r Response) MarshalJSON() ([]byte, error) {
	type plain Response
	if _, ok := r.Body.([]byte); !ok {
		return marshal(plain(r))
	}
	return marshal(struct {
		plain
		BodyEncoding string `json:"bodyEncoding"`
	}{plain(r), "base64"})
}

// Decode unmarshals raw JSON (a handler's input, a state value) into a T.
func Decode[T any](raw json.RawMessage) (T, error) {
	var value T
	err := json.Unmarshal(raw, &value)
	return value, err
}
