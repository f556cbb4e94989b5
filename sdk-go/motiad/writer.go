package motiad

import (
	"bufio"
	"io"
)

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
