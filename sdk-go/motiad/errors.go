package motiad

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrorInfo describes a failure on the wire (SPEC §6).
type ErrorInfo struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Stack     string `json:"stack"`
	Retryable bool   `json:"retryable"`
}

// RPCError is an error answer from the broker to a service request
// (an emit refused by a subscriber's input schema, an unknown stream...).
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// NonRetryableError marks a failure permanent: the event goes to the
// dead-letter queue at once instead of being retried.
type NonRetryableError struct{ Err error }

func (e *NonRetryableError) Error() string   { return e.Err.Error() }
func (e *NonRetryableError) Unwrap() error   { return e.Err }
func (e *NonRetryableError) Retryable() bool { return false }

// NonRetryable wraps err so the invocation fails without retries. Any error
// with a method Retryable() bool that returns false has the same effect.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &NonRetryableError{Err: err}
}

// Errorf is NonRetryable(fmt.Errorf(format, args...)).
func Errorf(format string, args ...any) error { return NonRetryable(fmt.Errorf(format, args...)) }

// typeName is the error's type without its package and pointer: what
// ErrorInfo.type shows ("ConformanceError", "NonRetryableError").
func typeName(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return t.String()
	}
	return t.Name()
}

func errorInfo(err error, stack string) ErrorInfo {
	retryable := true
	var marked interface{ Retryable() bool }
	if errors.As(err, &marked) {
		retryable = marked.Retryable()
	}
	return ErrorInfo{Type: typeName(err), Message: err.Error(), Stack: stack, Retryable: retryable}
}
