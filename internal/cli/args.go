package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// dataParser turns the data arguments of write-like commands into a request
// body, the way the vault binary does:
//
//   - key=value sets key to the string value;
//   - key=@path sets key to the contents of the file at path;
//   - key=- sets key to everything read from stdin;
//   - a lone - merges the JSON object read from stdin;
//   - @path merges the JSON object in the file at path.
//
// A key given more than once collects its values into a list, in order.
// Stdin can be consumed once per command line.
type dataParser struct {
	stdin    io.Reader
	readFile func(name string) ([]byte, error)

	stdinUsed bool
}

// Errors of data arguments.
var (
	errStdinTwice = errors.New("stdin can only be read once")
	errNoEquals   = errors.New("format must be key=value")
	errEmptyKey   = errors.New("key is empty in key=value")
)

// parse parses args. The result is never nil.
func (p *dataParser) parse(args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for i, arg := range args {
		if err := p.parseOne(out, arg); err != nil {
			return nil, fmt.Errorf("data argument %d: %w", i+1, err)
		}
	}
	return out, nil
}

func (p *dataParser) parseOne(out map[string]any, arg string) error {
	switch {
	case arg == "-":
		b, err := p.readStdin()
		if err != nil {
			return err
		}
		return mergeJSON(out, b, "stdin")
	case strings.HasPrefix(arg, "@"):
		name := arg[1:]
		b, err := p.readFile(name)
		if err != nil {
			return fmt.Errorf("read file %q: %w", name, unwrapPathError(err))
		}
		return mergeJSON(out, b, fmt.Sprintf("file %q", name))
	}

	key, value, ok := strings.Cut(arg, "=")
	if !ok {
		// The argument is not echoed: it may be a secret typed without
		// its key.
		return errNoEquals
	}
	if key == "" {
		return errEmptyKey
	}
	var v any = value
	switch {
	case value == "-":
		b, err := p.readStdin()
		if err != nil {
			return fmt.Errorf("read value of %q: %w", key, err)
		}
		v = string(b)
	case strings.HasPrefix(value, "@"):
		name := value[1:]
		b, err := p.readFile(name)
		if err != nil {
			return fmt.Errorf("read value of %q from file %q: %w", key, name, unwrapPathError(err))
		}
		v = string(b)
	}
	addValue(out, key, v)
	return nil
}

func (p *dataParser) readStdin() ([]byte, error) {
	if p.stdinUsed {
		return nil, errStdinTwice
	}
	p.stdinUsed = true
	if p.stdin == nil {
		return nil, errors.New("no stdin")
	}
	b, err := io.ReadAll(p.stdin)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	return b, nil
}

// addValue sets key, turning repeated keys into a list of their values.
func addValue(out map[string]any, key string, v any) {
	old, exists := out[key]
	if !exists {
		out[key] = v
		return
	}
	if list, ok := old.([]any); ok {
		out[key] = append(list, v)
		return
	}
	out[key] = []any{old, v}
}

// mergeJSON decodes b as one JSON object and adds its keys to out.
// Numbers stay json.Number so large integers survive the round trip.
func mergeJSON(out map[string]any, b []byte, source string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("parse JSON object from %s: %w", source, err)
	}
	if obj == nil {
		return fmt.Errorf("parse JSON object from %s: not an object", source)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("parse JSON object from %s: trailing data after the object", source)
	}
	for k, v := range obj {
		addValue(out, k, v)
	}
	return nil
}

// unwrapPathError drops the *fs.PathError wrapper (which repeats the file
// name) so that messages name the file once.
func unwrapPathError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
