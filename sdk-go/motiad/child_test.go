package motiad

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Steps registered under made-up paths, as a runner binary would have them.
const (
	apiStep     = "/srv/project/steps/api.step.go"
	failingStep = "/srv/project/steps/failing.step.go"
	panicStep   = "/srv/project/steps/panics.step.go"
	slowStep    = "/srv/project/steps/slow.step.go"
	badAPIStep  = "/srv/project/steps/bad-api.step.go"
	twiceStep   = "/srv/project/steps/twice.step.go"
	noHandler   = "/srv/project/steps/no-handler.step.go"
	bigStep     = "/srv/project/steps/big.step.go"
	panicky     = "/srv/project/steps/panicky-result.step.go"
	tracedStep  = "/srv/project/steps/traced.step.go"
)

// explodes panics when encoded, as a buggy MarshalJSON of a user's type may.
type explodes struct{}

func (explodes) MarshalJSON() ([]byte, error) { panic("MarshalJSON exploded") }

type notFound struct{ what string }

func (e *notFound) Error() string { return e.what + " not found" }

func init() {
	RegisterFile(apiStep, Config{"name": "Api", "type": "api", "path": "/a", "method": "POST"},
		func(ctx *Context, input json.RawMessage) (any, error) {
			req, err := Decode[Request](input)
			if err != nil {
				return nil, err
			}
			stored, err := ctx.State.Set("g", "k", map[string]any{"body": req.Body})
			if err != nil {
				return nil, err
			}
			eventID, err := ctx.Emit(Event{Topic: "t", Data: 1, MessageGroupID: "m"})
			if err != nil {
				return nil, err
			}
			item, err := ctx.Streams("messages").Set("room", "m1", map[string]string{"text": "hi"})
			if err != nil {
				return nil, err
			}
			ctx.Logger.Warn("careful", Fields{"n": 2, "bad": func() {}})
			return Response{Status: 201, Body: map[string]any{
				"stored": stored, "eventId": eventID, "item": item, "trace": ctx.TraceID,
			}, Headers: map[string]string{"x-a": "<b>"}}, nil
		})
	RegisterFile(failingStep, Config{"name": "Failing", "type": "event", "subscribes": []string{"t"}},
		func(ctx *Context, input json.RawMessage) (any, error) {
			if string(input) == `"permanent"` {
				return nil, Errorf("gone for good")
			}
			return nil, fmt.Errorf("looking: %w", &notFound{"order"})
		})
	RegisterFile(panicStep, Config{"name": "Panics", "type": "event", "subscribes": []string{"t"}},
		func(ctx *Context, input json.RawMessage) (any, error) {
			var m map[string]int
			m["boom"] = 1 // a nil map: the handler panics
			return nil, nil
		})
	RegisterFile(slowStep, Config{"name": "Slow", "type": "event", "subscribes": []string{"t"}},
		func(ctx *Context, input json.RawMessage) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	RegisterFile(badAPIStep, Config{"name": "BadApi", "type": "api", "path": "/b", "method": "GET"},
		func(ctx *Context, input json.RawMessage) (any, error) { return map[string]any{"body": 1}, nil })
	RegisterFile(bigStep, Config{"name": "Big", "type": "event", "subscribes": []string{"t"}},
		func(ctx *Context, input json.RawMessage) (any, error) {
			_, err := ctx.Emit(Event{Topic: "t", Data: strings.Repeat("x", 400)})
			return nil, err
		})
	RegisterFile(panicky, Config{"name": "Panicky", "type": "api", "path": "/p", "method": "GET"},
		func(ctx *Context, input json.RawMessage) (any, error) {
			return Response{Status: 200, Body: explodes{}}, nil
		})
	RegisterFile(tracedStep, Config{"name": "Traced", "type": "api", "path": "/t", "method": "GET"},
		func(ctx *Context, input json.RawMessage) (any, error) {
			return Response{Status: 200, Body: ctx.Traceparent}, nil
		})
	RegisterFile(twiceStep, Config{"name": "One", "type": "noop"}, nil)
	RegisterFile(twiceStep, Config{"name": "Two", "type": "noop"}, nil)
	RegisterFile(noHandler, Config{"name": "NoHandler", "type": "event", "subscribes": []string{"t"}}, nil)
}

func invoke(p *peer, step string, trigger map[string]any, input any, timeoutMs any) int {
	return p.request("invoke", map[string]any{
		"step": step, "trigger": trigger, "input": input, "traceId": "trace-1",
		"invocationId": "inv-1", "attempt": 1, "timeoutMs": timeoutMs,
	})
}

var event = map[string]any{"type": "event", "topic": "t", "eventId": "e1"}

func TestInitializeAnswersForEveryPathInOrder(t *testing.T) {
	// SPEC lifecycle.initialize: one entry per path, a load error for the others.
	p := startChild(t)
	answer := p.initialize([]string{twiceStep, apiStep, "/srv/project/steps/missing.step.go", noHandler}, 0)
	var result struct {
		SDK   map[string]string `json:"sdk"`
		Steps []struct {
			Path   string     `json:"path"`
			Config Config     `json:"config"`
			Error  *ErrorInfo `json:"error"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(answer["result"], &result); err != nil {
		t.Fatal(err)
	}
	if result.SDK["language"] != "go" || result.SDK["name"] != "motiad-sdk-go" {
		t.Fatalf("sdk: %v", result.SDK)
	}
	if len(result.Steps) != 4 || result.Steps[1].Config["name"] != "Api" {
		t.Fatalf("steps: %+v", result.Steps)
	}
	for i, want := range map[int]string{0: "registers more than one step", 2: "no Go step was registered", 3: "registered no handler"} {
		got := result.Steps[i].Error
		if got == nil || !strings.Contains(got.Message, want) || got.Retryable {
			t.Fatalf("entry %d: want a non-retryable error with %q, got %+v", i, want, got)
		}
	}
}

func TestMajorsCompareAsNumbers(t *testing.T) {
	// SPEC lifecycle.version: "01.0" is major 1; "10.0" and "0.1" are other majors.
	for version, want := range map[string]int{"01.0": 0, "001.7": 0, "10.0": codeVersionMismatch, "0.1": codeVersionMismatch} {
		p := startChild(t)
		answer := p.until(p.request("initialize", map[string]any{"protocolVersion": version, "project": "/srv/project", "steps": []string{}}), nil)
		if _, ok := answer["result"]; ok != (want == 0) || (want != 0 && errorCode(t, answer) != want) {
			t.Fatalf("initialize %s: want code %d (0: a result), got %s", version, want, stringify(answer))
		}
	}
}

func TestAnApiHandlerUsesEveryServiceAndReturnsItsResponse(t *testing.T) {
	p := startChild(t)
	p.initialize([]string{apiStep}, 0)
	var calls []string
	answer := p.until(invoke(p, apiStep, map[string]any{"type": "api"}, map[string]any{"body": map[string]any{"x": 1}}, 30000),
		func(request map[string]json.RawMessage) any {
			var method string
			_ = json.Unmarshal(request["method"], &method)
			calls = append(calls, method+" "+string(request["params"]))
			switch method {
			case "emit":
				return map[string]string{"eventId": "ev-9"}
			case "stream.set":
				return map[string]string{"id": "m1", "text": "hi"}
			}
			return map[string]any{"body": map[string]int{"x": 1}}
		})
	want := `{"status":201,"body":{"eventId":"ev-9","item":{"id":"m1","text":"hi"},"stored":{"body":{"x":1}},"trace":"trace-1"},"headers":{"x-a":"<b>"}}`
	if got := string(answer["result"]); got != want {
		t.Fatalf("answer\n got %s\nwant %s", got, want)
	}
	wantCalls := []string{
		`state.set {"groupId":"g","invocationId":"inv-1","key":"k","value":{"body":{"x":1}}}`,
		`emit {"data":1,"invocationId":"inv-1","messageGroupId":"m","topic":"t"}`,
		`stream.set {"data":{"text":"hi"},"groupId":"room","id":"m1","invocationId":"inv-1","stream":"messages"}`,
	}
	if strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
		t.Fatalf("service calls\n got %s\nwant %s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
	}
}

func TestTheHandlerGetsTheInvocationsTraceparent(t *testing.T) {
	// SPEC invoke.traceparent: handed over unchanged; null, absent or not a
	// string is "" (an older broker), never a refusal.
	p := startChild(t)
	p.initialize([]string{tracedStep}, 0)
	const sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, c := range []struct {
		traceparent any
		want        string
	}{{sent, `"` + sent + `"`}, {nil, `""`}, {7, `""`}, {"absent", `""`}} {
		params := map[string]any{
			"step": tracedStep, "trigger": map[string]any{"type": "api"}, "input": map[string]any{}, "traceId": "trace-1",
			"invocationId": "inv-1", "traceparent": c.traceparent,
		}
		if c.traceparent == "absent" {
			delete(params, "traceparent")
		}
		answer := p.until(p.request("invoke", params), nil)
		if got := string(answer["result"]); got != `{"status":200,"body":`+c.want+`}` {
			t.Fatalf("traceparent %v: got %s, want %s", c.traceparent, stringify(answer), c.want)
		}
	}
}

func TestALogWithAValueJsonCannotEncodeSendsItsText(t *testing.T) {
	// SPEC log.notification: SDKs make user values JSON-safe.
	p := startChild(t)
	p.initialize([]string{apiStep}, 0)
	invoke(p, apiStep, map[string]any{"type": "api"}, map[string]any{"body": nil}, nil)
	for {
		line := p.next()
		if string(line["method"]) == `"log"` {
			var params struct {
				Level, Message, InvocationID string
				Fields                       map[string]any
			}
			_ = json.Unmarshal(line["params"], &params)
			if params.Level != "warn" || params.Fields["n"] != 2.0 || !strings.HasPrefix(params.Fields["bad"].(string), "0x") {
				t.Fatalf("log: %s", line["params"])
			}
			return
		}
		if id, ok := line["id"]; ok && line["method"] != nil {
			p.send(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]string{"eventId": "e"}})
		}
	}
}

func TestHandlerErrorsCarryTheirTypeAndRetryability(t *testing.T) {
	// SPEC invoke.handler-error.
	p := startChild(t)
	p.initialize([]string{failingStep, panicStep}, 0)
	info := func(answer map[string]json.RawMessage) ErrorInfo {
		var e struct {
			Code int       `json:"code"`
			Data ErrorInfo `json:"data"`
		}
		_ = json.Unmarshal(answer["error"], &e)
		if e.Code != codeHandlerFailed {
			t.Fatalf("expected -32000, got %s", stringify(answer))
		}
		return e.Data
	}
	retryable := info(p.until(invoke(p, failingStep, event, "again", nil), nil))
	if retryable.Type != "wrapError" || retryable.Message != "looking: order not found" || !retryable.Retryable {
		t.Fatalf("retryable: %+v", retryable)
	}
	permanent := info(p.until(invoke(p, failingStep, event, "permanent", nil), nil))
	if permanent.Type != "NonRetryableError" || permanent.Retryable {
		t.Fatalf("permanent: %+v", permanent)
	}
	panicked := info(p.until(invoke(p, panicStep, event, nil, nil), nil))
	if !strings.Contains(panicked.Message, "assignment to entry in nil map") || !strings.Contains(panicked.Stack, "child_test.go") {
		t.Fatalf("panic: %+v", panicked)
	}
}

func TestAnApiHandlerWithoutAStatusFailsPermanently(t *testing.T) {
	// SPEC invoke.result.
	p := startChild(t)
	p.initialize([]string{badAPIStep}, 0)
	answer := p.until(invoke(p, badAPIStep, map[string]any{"type": "api"}, nil, nil), nil)
	var e struct{ Data ErrorInfo }
	_ = json.Unmarshal(answer["error"], &e)
	if errorCode(t, answer) != codeHandlerFailed || e.Data.Type != "InvalidApiResponse" || e.Data.Retryable {
		t.Fatalf("got %s", stringify(answer))
	}
}

func TestAPanicWhileEncodingTheResultStillAnswersTheInvoke(t *testing.T) {
	// SPEC invoke.sdk-failure: the child lives on and the invoke is answered, not left to time out.
	p := startChild(t)
	p.initialize([]string{panicky}, 0)
	answer := p.until(invoke(p, panicky, map[string]any{"type": "api"}, nil, nil), nil)
	var e struct{ Data ErrorInfo }
	_ = json.Unmarshal(answer["error"], &e)
	if errorCode(t, answer) != codeHandlerFailed || !strings.Contains(e.Data.Message, "MarshalJSON exploded") {
		t.Fatalf("got %s", stringify(answer))
	}
	if errorCode(t, p.until(invoke(p, panicky, map[string]any{"type": "api"}, nil, nil), nil)) != codeHandlerFailed {
		t.Fatal("the child stopped serving")
	}
}

func TestTimeoutAndCancelAnswerAtOnceAndStopTheHandler(t *testing.T) {
	// SPEC invoke.timeout, invoke.cancel.
	p := startChild(t)
	p.initialize([]string{slowStep}, 0)
	if code := errorCode(t, p.until(invoke(p, slowStep, event, nil, 50), nil)); code != codeTimedOut {
		t.Fatalf("timeout answered %d", code)
	}
	id := invoke(p, slowStep, event, nil, nil)
	p.send(map[string]any{"jsonrpc": "2.0", "method": "$/cancel", "params": map[string]any{"id": id}})
	if code := errorCode(t, p.until(id, nil)); code != codeCancelled {
		t.Fatalf("cancel answered %d", code)
	}
}

func TestShutdownCancelsNothingThatFinishesAndEndsTheSession(t *testing.T) {
	// SPEC lifecycle.shutdown: running invocations are answered before shutdown.
	p := startChild(t)
	p.initialize([]string{slowStep}, 0)
	running := invoke(p, slowStep, event, nil, 100)
	stop := p.request("shutdown", nil)
	first := p.next()
	if string(first["id"]) != jsonInt(running) || errorCode(t, first) != codeTimedOut {
		t.Fatalf("expected the running invocation's answer first, got %s", stringify(first))
	}
	if second := p.next(); string(second["id"]) != jsonInt(stop) || string(second["result"]) != "null" {
		t.Fatalf("expected shutdown's null, got %s", stringify(second))
	}
	select {
	case <-p.ended:
	case <-time.After(wait):
		t.Fatal("the session did not end after shutdown")
	}
}

func TestARequestOverTheLineLimitIsNotSent(t *testing.T) {
	// SPEC framing.max-line.send: the handler's call fails, naming size and limit.
	p := startChild(t)
	p.initialize([]string{bigStep}, 300)
	answer := p.until(invoke(p, bigStep, event, nil, nil), nil)
	var e struct{ Data ErrorInfo }
	_ = json.Unmarshal(answer["error"], &e)
	if !strings.Contains(e.Data.Message, "exceeds the line limit of 300 bytes") {
		t.Fatalf("got %s", stringify(answer))
	}
}

func TestNonRetryableKeepsTheErrorItWraps(t *testing.T) {
	inner := &notFound{"x"}
	err := NonRetryable(inner)
	var target *notFound
	if !errors.As(err, &target) || errorInfo(err, "").Retryable {
		t.Fatalf("NonRetryable(%v) lost its cause or its mark", inner)
	}
	if NonRetryable(nil) != nil {
		t.Fatal("NonRetryable(nil) must be nil")
	}
}

func TestARunnerAnswersOnlyForThePathsItWasGiven(t *testing.T) {
	// One binary holds every Go step of a project; each child hosts its own
	// file (SPEC invoke.unknown-step for the others).
	p := startChild(t)
	p.initialize([]string{apiStep}, 0)
	if code := errorCode(t, p.until(invoke(p, failingStep, event, nil, nil), nil)); code != codeUnknownStep {
		t.Fatalf("a step compiled in but not given in initialize answered %d", code)
	}
}
