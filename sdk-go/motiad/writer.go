package motiad

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

// writer owns the protocol output: every line is written under one lock
// (one writer at a time, whole lines), and the last of the goroutines
// waiting to write flushes, so lines sent together go out in one write
// without a hand-off to a writer goroutine. A failed write ends the session
// (lifecycle.stdin-eof: the pipe is closed) and drops what follows.
type writer struct {
	mu       sync.Mutex
	buffered *bufio.Writer
	waiting  atomic.Int32
	failed   bool
	closed   bool
	onFail   func()
}

func newWriter(out io.Writer, onFail func()) *writer {
	return &writer{buffered: bufio.NewWriterSize(out, 64*1024), onFail: onFail}
}

// send writes one line (without its newline); after close or a failure it
// is dropped.
func (w *writer) send(line []byte) {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.waiting.Add(-1) == 0
	if w.failed || w.closed {
		return
	}
	_, err := w.buffered.Write(line)
	if err == nil {
		err = w.buffered.WriteByte('\n')
	}
	if err == nil && last {
		err = w.buffered.Flush()
	}
	if err != nil {
		w.failed = true
		go w.onFail() // not under the lock: ending the session may send nothing more
	}
}

// close writes out what is buffered; lines sent after it are dropped.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failed && !w.closed {
		_ = w.buffered.Flush()
	}
	w.closed = true
}
