//go:build !linux

package cli

import (
	"errors"
	"os"
)

// isTerminal reports whether w is a character device. Without a portable
// terminal check this also counts devices such as /dev/null, which only
// means a prompt is shown that nobody reads.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readNoEcho is not supported on this platform: reading a secret with echo
// on would show it on screen.
func readNoEcho(*os.File) (string, error) {
	return "", errors.New("hidden terminal input is not supported on this platform; pass the value as an argument or on stdin")
}
