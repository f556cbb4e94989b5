package motiad

import (
	"bufio"
	"errors"
	"io"
)

// lineReader splits its input on '\n' without ever holding more than the
// line limit of one line (SPEC framing.max-line): a longer line is discarded
// up to its newline and reported as too long.
type lineReader struct {
	r     *bufio.Reader
	limit func() int
}

func newLineReader(r io.Reader, limit func() int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64*1024), limit: limit}
}

// next returns the next line without its newline, or tooLong for a line over
// the limit (its bytes are gone). err is io.EOF at the end of input; a last
// line without a newline is not a message and is dropped.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	limit := lr.limit()
	var buf []byte
	size := 0
	for {
		chunk, err := lr.r.ReadSlice('\n')
		complete := err == nil
		n := len(chunk)
		if complete {
			n-- // the newline is not part of the line
		}
		size += n
		if size > limit {
			tooLong = true
			buf = nil
		} else {
			buf = append(buf, chunk[:n]...)
		}
		if complete {
			if tooLong {
				return nil, true, nil
			}
			if buf == nil {
				buf = []byte{}
			}
			return buf, false, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return nil, false, err
	}
}
