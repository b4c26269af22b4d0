package passpol

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func seeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob("testdata/*.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("length = 4\nrule \"charset\" { charset = \"a\" }")
	f.Add("length = 1e300\nrule \"charset\" { charset = \"a\" min-chars = 1e300 }")
}

// FuzzParse checks that Parse never panics, that every error is an *Error,
// and that an accepted policy keeps the documented limits.
func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse(%q) returned a policy and an error", src)
			}
			if len(unjoin(err)) == 0 {
				t.Fatalf("Parse(%q) error %v holds no *Error", src, err)
			}
			return
		}
		if p.Length < MinLength || p.Length > MaxLength || len(p.Rules) == 0 {
			t.Fatalf("Parse(%q) = length %d, %d rules: outside the limits", src, p.Length, len(p.Rules))
		}
		sum := 0
		for _, r := range p.Rules {
			if r.Charset == "" || r.MinChars < 0 {
				t.Fatalf("Parse(%q) accepted rule %+v", src, r)
			}
			sum += r.MinChars
		}
		if sum > p.Length {
			t.Fatalf("Parse(%q) accepted min-chars sum %d > length %d", src, sum, p.Length)
		}
	})
}

// FuzzGenerate drives Generate with fuzzer-chosen policies and randomness:
// it must never panic, and any password it returns must satisfy the
// policy.
func FuzzGenerate(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			return
		}
		// The source itself, repeated, is the "randomness": adversarial
		// and deterministic.
		stream := bytes.Repeat([]byte(src+"\x00\x01\x7f\xfe"), 64)
		pw, err := p.Generate(bytes.NewReader(stream))
		if err != nil {
			return
		}
		if utf8.RuneCountInString(pw) != p.Length {
			t.Fatalf("Generate = %q, want %d characters", pw, p.Length)
		}
		for _, r := range p.Rules {
			n := 0
			for _, c := range pw {
				if strings.ContainsRune(r.Charset, c) {
					n++
				}
			}
			if n < r.MinChars {
				t.Fatalf("Generate = %q breaks rule %+v", pw, r)
			}
		}
		if utf8.RuneCountInString(p.Charset()) < 2 {
			return // one character needs no randomness
		}
		if _, err := p.Generate(bytes.NewReader(nil)); err == nil || errors.Is(err, ErrUnsatisfiable) {
			t.Fatalf("Generate(empty reader) error = %v, want a read error", err)
		}
	})
}
