package motiad

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// BodyStreamError is what reading a streamed request body returns when the
// body ended before its end: the client went away, or the body outgrew the
// broker's limit (SPEC http.body-stream).
type BodyStreamError struct{ Message string }

func (e *BodyStreamError) Error() string { return e.Message }

// BodyStream is the request body of an api step whose config has
// "streamBody": true, read as the client sends it (SPEC http.body-stream):
// each Read that finds nothing left asks the broker for the next piece with
// http.read, so a handler that reads slowly slows the client down. The input's
// body is then null. For a step without streamBody, Read fails with the
// broker's answer.
func (ctx *Context) BodyStream() io.Reader { return &bodyReader{ctx: ctx} }

type bodyReader struct {
	ctx     *Context
	pending []byte
	done    bool
	err     error
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.fill()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *bodyReader) fill() error {
	raw, err := r.ctx.call(methodHttpRead, map[string]any{})
	if err != nil {
		return err
	}
	var answer struct {
		Chunk string  `json:"chunk"`
		Done  bool    `json:"done"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("http.read: unexpected answer %s", clip(raw))
	}
	if answer.Error != nil {
		return &BodyStreamError{Message: *answer.Error}
	}
	chunk, err := base64.StdEncoding.DecodeString(answer.Chunk)
	if err != nil {
		return fmt.Errorf("http.read: a chunk that is not base64: %w", err)
	}
	r.pending, r.done = chunk, answer.Done
	return nil
}

// ResponseStream is a streamed api response (SPEC http.stream): each Write
// sends one chunk to the client and returns once the client's connection took
// it; the first also sends the status and headers. Once a chunk is sent, what
// the handler returns only ends the body.
type ResponseStream struct {
	ctx     *Context
	status  int
	headers map[string]string
	started bool
}

// StreamResponse starts a streamed response with status and headers, sent
// with the first Write.
func (ctx *Context) StreamResponse(status int, headers map[string]string) *ResponseStream {
	return &ResponseStream{ctx: ctx, status: status, headers: headers}
}

// Write sends p as one chunk of the body.
func (s *ResponseStream) Write(p []byte) (int, error) {
	params := map[string]any{"chunk": base64.StdEncoding.EncodeToString(p), "encoding": "base64"}
	if !s.started {
		s.started = true
		params["status"] = s.status
		if s.headers != nil {
			params["headers"] = s.headers
		} else {
			params["headers"] = map[string]string{}
		}
	}
	if _, err := s.ctx.call(methodHttpWrite, params); err != nil {
		return 0, err
	}
	return len(p), nil
}
