package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readSecretLine reads one secret line (an unseal key, a token, a
// password). On a terminal it prints prompt on stderr and reads with echo
// turned off; otherwise (a pipe, a file, /dev/null) it reads the first line
// of stdin without prompting. The trailing newline and surrounding spaces
// are removed; empty input gives "" and no error, and the caller says what
// was missing.
func (c *call) readSecretLine(prompt string) (string, error) {
	if f, ok := c.env.Stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(c.env.Stderr, prompt)
		line, err := readNoEcho(f)
		fmt.Fprintln(c.env.Stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(line), nil
	}
	if c.env.Stdin == nil {
		return "", nil
	}
	line, err := readLine(c.env.Stdin)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// readLine reads up to the first newline or the end of r; at the end of an
// empty r it returns "". It reads one byte at a time so that nothing after
// the line is consumed.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}
		if err != nil {
			return "", fmt.Errorf("read stdin: %w", err)
		}
	}
}
