package motiad

import (
	"io"
	"strings"
	"testing"
)

func TestALineOfExactlyTheLimitIsReadAndALongerOneIsSkipped(t *testing.T) {
	// SPEC framing.max-line: the limit excludes the newline; reading goes on.
	input := strings.Repeat("a", 10) + "\n" + strings.Repeat("b", 200000) + "\nnext\n\npartial"
	lines := newLineReader(strings.NewReader(input), func() int { return 10 })
	line, tooLong, err := lines.next()
	if err != nil || tooLong || string(line) != strings.Repeat("a", 10) {
		t.Fatalf("first: %q %v %v", line, tooLong, err)
	}
	if _, tooLong, err = lines.next(); err != nil || !tooLong {
		t.Fatalf("second: tooLong=%v err=%v", tooLong, err)
	}
	if line, _, _ = lines.next(); string(line) != "next" {
		t.Fatalf("third: %q", line)
	}
	if line, tooLong, err = lines.next(); err != nil || tooLong || line == nil || len(line) != 0 {
		t.Fatalf("an empty line is a line (answered -32700 by the classifier): %q %v %v", line, tooLong, err)
	}
	if _, _, err = lines.next(); err != io.EOF {
		t.Fatalf("a last line without a newline is not a message: %v", err)
	}
}
