package passpol

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want *Policy
	}{
		{
			name: "one rule",
			src:  "length = 8\nrule \"charset\" {\n  charset = \"ab\"\n}\n",
			want: &Policy{Length: 8, Rules: []Rule{{Charset: "ab"}}},
		},
		{
			name: "several rules",
			src: `length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 4
}`,
			want: &Policy{Length: 20, Rules: []Rule{
				{Charset: "abcdefghijklmnopqrstuvwxyz", MinChars: 1},
				{Charset: "0123456789", MinChars: 4},
			}},
		},
		{
			name: "bounds",
			src:  "length = 4\nrule \"charset\" {\n charset = \"x\"\n min-chars = 4\n}",
			want: &Policy{Length: 4, Rules: []Rule{{Charset: "x", MinChars: 4}}},
		},
		{
			name: "max length and unicode",
			src:  `length = 100` + "\n" + `rule "charset" { charset = "äöü秘" }`,
			want: &Policy{Length: 100, Rules: []Rule{{Charset: "äöü秘"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Policy{}, Rule{})); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []Error // every problem, in order
	}{
		{name: "empty", src: "", want: []Error{
			{Line: 0, Msg: "missing length"},
			{Line: 0, Msg: `no rule "charset" block; a policy needs at least one`},
		}},
		{name: "syntax", src: "length = 10\nrule \"charset\" {\n charset = \n}", want: []Error{{Line: 3}}},
		{name: "too short", src: "length = 3\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 1, Msg: "length must be between 4 and 100, not 3"},
		}},
		{name: "too long", src: "\nlength = 101\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 2, Msg: "length must be between 4 and 100, not 101"},
		}},
		{name: "fractional length", src: "length = 10.5\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 1, Msg: "length must be a whole number"},
		}},
		{name: "string length", src: "length = \"ten\"\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 1, Msg: "length must be a whole number"},
		}},
		{name: "min-chars over length", src: "length = 5\nrule \"charset\" {\n charset = \"a\"\n min-chars = 3\n}\nrule \"charset\" {\n charset = \"b\"\n min-chars = 3\n}", want: []Error{
			{Line: 1, Msg: "the rules' min-chars add up to 6, more than the length 5"},
		}},
		{name: "empty charset", src: "length = 10\n\nrule \"charset\" {\n charset = \"\"\n}", want: []Error{
			{Line: 4, Msg: "charset must not be empty"},
		}},
		{name: "missing charset", src: "length = 10\nrule \"charset\" {\n min-chars = 1\n}", want: []Error{
			{Line: 2, Msg: `rule "charset" needs a charset`},
		}},
		{name: "charset not string", src: "length = 10\nrule \"charset\" {\n charset = 5\n}", want: []Error{
			{Line: 3, Msg: "charset must be a string"},
		}},
		{name: "negative min-chars", src: "length = 10\nrule \"charset\" {\n charset = \"a\"\n min-chars = -1\n}", want: []Error{
			{Line: 4, Msg: "min-chars must be a whole number between 0 and 100"},
		}},
		{name: "unknown top key", src: "length = 10\nwidth = 3\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 2, Msg: `unknown key "width"; a policy has only length and rule blocks`},
		}},
		{name: "unknown rule key", src: "length = 10\nrule \"charset\" {\n charset = \"a\"\n max-chars = 2\n}", want: []Error{
			{Line: 4, Msg: `unknown key "max-chars" in rule "charset"; want charset or min-chars`},
		}},
		{name: "unknown rule type", src: "length = 10\nrule \"charset\" { charset = \"a\" }\nrule \"disallow\" { x = 1 }", want: []Error{
			{Line: 3, Msg: `unknown rule; write rule "charset" { charset = "..." min-chars = N }`},
		}},
		{name: "unknown block", src: "length = 10\nrule \"charset\" { charset = \"a\" }\nextra {\n}", want: []Error{
			{Line: 3, Msg: `unknown block "extra"; a policy has only length and rule blocks`},
		}},
		{name: "variables refused", src: "length = var.x\nrule \"charset\" { charset = \"a\" }", want: []Error{
			{Line: 1, Msg: "length must be a whole number"},
		}},
		{name: "several problems in line order", src: "width = 1\nlength = 1000\nrule \"charset\" {\n charset = \"\"\n}", want: []Error{
			{Line: 1, Msg: `unknown key "width"; a policy has only length and rule blocks`},
			{Line: 2, Msg: "length must be between 4 and 100, not 1000"},
			{Line: 4, Msg: "charset must not be empty"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.src, p)
			}
			if p != nil {
				t.Errorf("Parse(%q) returned a policy with the error", tt.src)
			}
			got := unjoin(err)
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%q) error = %v, want %d problems", tt.src, err, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Line != w.Line || (w.Msg != "" && got[i].Msg != w.Msg) {
					t.Errorf("Parse(%q) problem %d = line %d %q, want line %d %q", tt.src, i, got[i].Line, got[i].Msg, w.Line, w.Msg)
				}
			}
			if w := tt.want[0]; w.Line > 0 && !strings.Contains(err.Error(), "line ") {
				t.Errorf("Parse(%q) error %q does not name the line", tt.src, err)
			}
		})
	}
}

func unjoin(err error) []*Error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*Error
	for _, e := range errs {
		var pe *Error
		if errors.As(e, &pe) {
			out = append(out, pe)
		}
	}
	return out
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	src := "length = 10\n# " + strings.Repeat("x", MaxSourceBytes)
	if _, err := Parse(src); err == nil {
		t.Fatalf("Parse(%d bytes) = nil error, want error", len(src))
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	p := Default()
	if p.Length != 20 || len(p.Rules) != 4 {
		t.Fatalf("Default() = length %d with %d rules, want 20 and 4", p.Length, len(p.Rules))
	}
	for range 200 {
		pw, err := p.Generate(rand.Reader)
		if err != nil {
			t.Fatalf("Default().Generate error = %v", err)
		}
		if utf8.RuneCountInString(pw) != 20 {
			t.Fatalf("password %q has %d characters, want 20", pw, utf8.RuneCountInString(pw))
		}
		for _, set := range []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "-"} {
			if !strings.ContainsAny(pw, set) {
				t.Fatalf("password %q has no character of %q", pw, set)
			}
		}
		for _, c := range pw {
			if !strings.ContainsRune(p.Charset(), c) {
				t.Fatalf("password %q has %q, outside the policy", pw, c)
			}
		}
	}
}

func TestGenerateMeetsRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
	}{
		{name: "every char forced", src: "length = 6\nrule \"charset\" {\ncharset = \"ab\"\nmin-chars = 3\n}\nrule \"charset\" {\ncharset = \"cd\"\nmin-chars = 3\n}"},
		{name: "overlapping", src: "length = 8\nrule \"charset\" {\ncharset = \"abc\"\nmin-chars = 2\n}\nrule \"charset\" {\ncharset = \"cde\"\nmin-chars = 2\n}"},
		{name: "unicode", src: "length = 12\nrule \"charset\" {\ncharset = \"äöü\"\nmin-chars = 2\n}\nrule \"charset\" {\ncharset = \"秘密\"\nmin-chars = 2\n}"},
		{name: "duplicates in charset", src: "length = 10\nrule \"charset\" {\ncharset = \"aaaab\"\nmin-chars = 1\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			for range 300 {
				pw, err := p.Generate(rand.Reader)
				if err != nil {
					t.Fatalf("Generate error = %v", err)
				}
				if n := utf8.RuneCountInString(pw); n != p.Length {
					t.Fatalf("Generate = %q, %d characters, want %d", pw, n, p.Length)
				}
				for _, r := range p.Rules {
					n := 0
					for _, c := range pw {
						if strings.ContainsRune(r.Charset, c) {
							n++
						}
					}
					if n < r.MinChars {
						t.Fatalf("Generate = %q has %d of %q, want at least %d", pw, n, r.Charset, r.MinChars)
					}
				}
			}
		})
	}
}

// TestGenerateDistribution checks that characters come out uniformly: a
// chi-square statistic over many draws stays well under a loose bound.
// The charset sizes are chosen so that a modulo-biased generator (256 %
// n != 0) would fail.
func TestGenerateDistribution(t *testing.T) {
	t.Parallel()
	for _, charset := range []string{
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!@#$%^&*()+=[]{}<>?/|~.,:;ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"abc",
		strings.Repeat("x", 1) + "yz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#%&()*+,-./:;<=>?@[]^_{|}~äöüßÄÖÜéèêàâçñøåæœ€£¥©®°±²³µ¶·¹º¼½¾¿×÷ÀÁÂÃÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕØÙÚÛÝÞàáâãåæçèéêëìíîïðñòóôõøùúûýþÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĳĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŇňŉŊŋŌōŎŏŐőŒœŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž",
	} {
		p, err := Parse("length = 100\nrule \"charset\" {\n charset = \"" + charset + "\"\n}")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		union := []rune(p.Charset())
		counts := make(map[rune]int, len(union))
		const draws = 2000 // passwords of 100 characters
		for range draws {
			pw, err := p.Generate(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range pw {
				counts[c]++
			}
		}
		n := float64(draws * p.Length)
		k := float64(len(union))
		expected := n / k
		chi := 0.0
		for _, c := range union {
			d := float64(counts[c]) - expected
			chi += d * d / expected
		}
		// Mean k-1, standard deviation sqrt(2(k-1)); eight deviations
		// above the mean is far beyond chance but well below what a
		// modulo bias produces at this sample size.
		bound := (k - 1) + 8*math.Sqrt(2*(k-1))
		if chi > bound {
			t.Errorf("charset of %d characters: chi-square %.1f over %d samples, want below %.1f", len(union), chi, int(n), bound)
		}
	}
}

// TestGenerateNoModuloBias feeds every byte value once: with 3 characters
// the 256 values give 85 of each and one rejection, never 86 of the first.
func TestGenerateNoModuloBias(t *testing.T) {
	t.Parallel()
	var u uniform
	var stream []byte
	for b := range 256 {
		stream = append(stream, byte(b))
	}
	u.r = bytes.NewReader(append(stream, make([]byte, 256)...))
	counts := make([]int, 3)
	for range 255 {
		n, err := u.intn(3)
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	if diff := cmp.Diff([]int{85, 85, 85}, counts); diff != "" {
		t.Errorf("intn(3) over bytes 0..254 (255 rejected) counts mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	p := Default()
	if _, err := p.Generate(io.LimitReader(rand.Reader, 5)); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Errorf("Generate(short reader) error = %v, want EOF", err)
	}
	stuck := bytes.NewReader(bytes.Repeat([]byte{0xff}, 1<<16))
	if _, err := p.Generate(stuck); err == nil {
		t.Error("Generate(stuck reader) = nil error, want error")
	}
	// One character in 1,000 must fill all 100 places: never drawn.
	big, err := Parse("length = 100\nrule \"charset\" {\ncharset = \"" + manyRunes(1000) + "\"\n}\nrule \"charset\" {\ncharset = \"" + string(rune(0x4e00)) + "\"\nmin-chars = 100\n}")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := big.Generate(rand.Reader); !errors.Is(err, ErrUnsatisfiable) {
		t.Errorf("Generate(unlikely policy) error = %v, want ErrUnsatisfiable", err)
	}
	var nilPolicy *Policy
	if _, err := nilPolicy.Generate(rand.Reader); err == nil {
		t.Error("nil Policy Generate = nil error, want error")
	}
}

// manyRunes returns n distinct letters from U+0100 upward.
func manyRunes(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteRune(rune(0x0100 + i))
	}
	return b.String()
}

func BenchmarkGenerateDefault(b *testing.B) {
	p := Default()
	for b.Loop() {
		if _, err := p.Generate(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}
