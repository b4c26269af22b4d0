package tlsutil

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// readPEM returns the first PEM block of type typ in the file at path.
func readPEM(path, typ string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("read %s: no %s PEM block", path, typ)
		}
		if b.Type == typ {
			return b, nil
		}
	}
}

// exists reports whether path exists; errors other than "does not exist"
// are returned.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}
