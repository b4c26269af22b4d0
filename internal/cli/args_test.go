package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeFiles serves readFile from a map.
func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func TestDataParser(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"cert.pem":  "-----BEGIN-----\nabc\n-----END-----\n",
		"data.json": `{"a": "1", "n": 12345678901234567890, "nested": {"x": true}}`,
		"bad.json":  `{"a": `,
		"list.json": `["not", "an", "object"]`,
		"two.json":  `{"a":"1"} {"b":"2"}`,
		"empty":     "",
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    map[string]any
		wantErr error // checked with errors.Is when set
		errText string
	}{
		{name: "none", args: nil, want: map[string]any{}},
		{name: "simple", args: []string{"a=b"}, want: map[string]any{"a": "b"}},
		{name: "several", args: []string{"a=1", "b=2"}, want: map[string]any{"a": "1", "b": "2"}},
		{name: "value with equals", args: []string{"q=x=y=z"}, want: map[string]any{"q": "x=y=z"}},
		{name: "empty value", args: []string{"a="}, want: map[string]any{"a": ""}},
		{name: "unicode", args: []string{"clé=värde"}, want: map[string]any{"clé": "värde"}},
		{name: "duplicate keys make a list", args: []string{"a=1", "a=2", "a=3"}, want: map[string]any{"a": []any{"1", "2", "3"}}},
		{name: "duplicate with others", args: []string{"a=1", "b=x", "a=2"}, want: map[string]any{"a": []any{"1", "2"}, "b": "x"}},
		{name: "value from file", args: []string{"pem=@cert.pem"}, want: map[string]any{"pem": files["cert.pem"]}},
		{name: "empty file", args: []string{"v=@empty"}, want: map[string]any{"v": ""}},
		{name: "value from stdin", args: []string{"pw=-"}, stdin: "s3cret\n", want: map[string]any{"pw": "s3cret\n"}},
		{name: "json object from stdin", args: []string{"-"}, stdin: `{"a":"b","n":1}`, want: map[string]any{"a": "b", "n": json.Number("1")}},
		{name: "json file", args: []string{"@data.json"}, want: map[string]any{"a": "1", "n": json.Number("12345678901234567890"), "nested": map[string]any{"x": true}}},
		{name: "json file and pair", args: []string{"@data.json", "a=2"}, want: map[string]any{"a": []any{"1", "2"}, "n": json.Number("12345678901234567890"), "nested": map[string]any{"x": true}}},
		{name: "missing equals", args: []string{"justavalue"}, wantErr: errNoEquals},
		{name: "missing equals after good", args: []string{"a=b", "oops"}, wantErr: errNoEquals, errText: "argument 2"},
		{name: "empty key", args: []string{"=value"}, wantErr: errEmptyKey},
		{name: "missing file", args: []string{"a=@nope"}, wantErr: fs.ErrNotExist, errText: `"nope"`},
		{name: "missing json file", args: []string{"@nope"}, wantErr: fs.ErrNotExist},
		{name: "bad json file", args: []string{"@bad.json"}, errText: "parse JSON object"},
		{name: "json array file", args: []string{"@list.json"}, errText: "parse JSON object"},
		{name: "two json objects", args: []string{"@two.json"}, errText: "trailing data"},
		{name: "bad json stdin", args: []string{"-"}, stdin: "nope", errText: "stdin"},
		{name: "null json stdin", args: []string{"-"}, stdin: "null", errText: "not an object"},
		{name: "stdin twice", args: []string{"a=-", "b=-"}, stdin: "x", wantErr: errStdinTwice},
		{name: "stdin json then value", args: []string{"-", "a=-"}, stdin: "{}", wantErr: errStdinTwice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &dataParser{stdin: strings.NewReader(tt.stdin), readFile: fakeFiles(files)}
			got, err := p.parse(tt.args)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("parse(%q) = %v, want an error", tt.args, got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("parse(%q) error = %v, want %v", tt.args, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("parse(%q) error = %q, want it to contain %q", tt.args, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q) error = %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// TestDataParserErrorsHideValues checks that a malformed argument, which may
// be a secret typed without its key, is not echoed in the error.
func TestDataParserErrorsHideValues(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"hunter2-secret", "=hunter2-secret"} {
		p := &dataParser{readFile: fakeFiles(nil)}
		_, err := p.parse([]string{arg})
		if err == nil {
			t.Fatalf("parse(%q) succeeded, want an error", arg)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parse(%q) error %q echoes the argument", arg, err)
		}
	}
}

func FuzzDataParser(f *testing.F) {
	for _, seed := range []string{"a=b", "a=", "=b", "a", "-", "@f", "a=@f", "a=-", "a=b=c", "k=v\x00", "é=ü"} {
		f.Add(seed, "x=y")
	}
	f.Fuzz(func(t *testing.T, arg1, arg2 string) {
		p := &dataParser{
			stdin:    strings.NewReader(`{"s":"t"}`),
			readFile: fakeFiles(map[string]string{"f": `{"from":"file"}`}),
		}
		got, err := p.parse([]string{arg1, arg2})
		if err != nil {
			if got != nil {
				t.Fatalf("parse(%q, %q) returned both %v and error %v", arg1, arg2, got, err)
			}
			return
		}
		// A plain key=value argument round-trips exactly (when no JSON
		// object is merged in beside it, which could repeat its key).
		merges := func(a string) bool { return a == "-" || strings.HasPrefix(a, "@") }
		if merges(arg1) || merges(arg2) {
			return
		}
		for _, arg := range []string{arg1, arg2} {
			key, value, ok := strings.Cut(arg, "=")
			if !ok || key == "" || strings.HasPrefix(arg, "@") || value == "-" || strings.HasPrefix(value, "@") {
				continue
			}
			v, present := got[key]
			if !present {
				t.Fatalf("parse(%q, %q) = %v, missing key %q", arg1, arg2, got, key)
			}
			if arg1 == arg2 || (strings.HasPrefix(arg1, key+"=") && strings.HasPrefix(arg2, key+"=")) {
				continue // duplicates collect into a list
			}
			if v != value {
				t.Fatalf("parse(%q, %q)[%q] = %#v, want %q", arg1, arg2, key, v, value)
			}
		}
	})
}
