//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock) on f without waiting;
// it is released when f is closed. The lock belongs to the open file, so a
// second open of the same file conflicts even in the same process.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
