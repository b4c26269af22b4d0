//go:build !linux

package cli

import (
	"errors"
	"os"
)

// readNoEcho is not supported on this platform: reading a secret with echo
// on would show it on screen.
func readNoEcho(*os.File) (string, error) {
	return "", errors.New("hidden terminal input is not supported on this platform; pass the value as an argument or on stdin")
}
