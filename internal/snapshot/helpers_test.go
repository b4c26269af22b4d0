package snapshot

import (
	"io"
	"path/filepath"
)

func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*")) }

func readAllReader(r io.Reader) (Header, []Record, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Header{}, nil, err
	}
	return readAll(data)
}
