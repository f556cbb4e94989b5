package motiad

import (
	"fmt"
	"os"
)

// Main serves the protocol on the process's stdin/stdout with the steps the
// program registered, then exits: the runner binary's main function is
// `func main() { motiad.Main() }`.
func Main() {
	in, out, err := claimStdio()
	if err != nil {
		fmt.Fprintf(os.Stderr, "motiad-sdk-go: cannot claim stdin/stdout for the protocol: %v\n", err)
		os.Exit(1)
	}
	Serve(in, out)
	// Handlers still running have nobody to answer to (lifecycle.stdin-eof).
	os.Exit(0)
}
