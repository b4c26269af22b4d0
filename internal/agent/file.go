package agent

import (
	"bytes"
	"os"
)

// sameContent reports whether path holds exactly data.
func sameContent(path string, data []byte) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, data)
}
