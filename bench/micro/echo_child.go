// The floor of a pipe round trip with a Go child: read a line, write it back.
//
// Built by bench/micro/invoke.py (`go build -o ... echo_child.go`, standard
// library only, like sdk-go).
package main

import (
	"bufio"
	"os"
)

func main() {
	in := bufio.NewReaderSize(os.Stdin, 64*1024)
	out := bufio.NewWriterSize(os.Stdout, 64*1024)
	for {
		line, err := in.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := out.Write(line); werr != nil {
				return
			}
			// Flush when no more input is waiting, as the SDK's writer does.
			if in.Buffered() == 0 {
				if out.Flush() != nil {
					return
				}
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			_ = out.Flush()
			return
		}
	}
}
