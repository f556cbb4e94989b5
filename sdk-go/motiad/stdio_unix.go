//go:build unix

package motiad

import (
	"os"
	"syscall"
)

// claimStdio keeps the real stdin and stdout for the protocol on new file
// descriptors, then points descriptor 1 at stderr and descriptor 0 at
// /dev/null, so whatever user code (or a library, or a subprocess) prints
// lands in the log and nothing can read protocol bytes (framing.stdout-owned).
func claimStdio() (*os.File, *os.File, error) {
	inFd, err := syscall.Dup(0)
	if err != nil {
		return nil, nil, err
	}
	outFd, err := syscall.Dup(1)
	if err != nil {
		return nil, nil, err
	}
	syscall.CloseOnExec(inFd)
	syscall.CloseOnExec(outFd)
	if err := dupOnto(2, 1); err != nil {
		return nil, nil, err
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, err
	}
	if err := dupOnto(int(devNull.Fd()), 0); err != nil {
		return nil, nil, err
	}
	_ = devNull.Close()
	return os.NewFile(uintptr(inFd), "protocol-in"), os.NewFile(uintptr(outFd), "protocol-out"), nil
}
