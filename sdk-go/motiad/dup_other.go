//go:build unix && !linux

package motiad

import "syscall"

// dupOnto makes descriptor to a copy of from.
func dupOnto(from, to int) error { return syscall.Dup2(from, to) }
