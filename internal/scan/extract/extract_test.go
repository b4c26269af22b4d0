package extract

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// collect returns the candidates of data as "line:value" strings.
func collect(data []byte) map[string][]int {
	out := map[string][]int{}
	Each(data, func(v []byte, line int) {
		out[string(v)] = append(out[string(v)], line)
	})
	return out
}

func TestEach(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString([]byte("inner-password-42"))
	tests := []struct {
		name     string
		in       string
		want     map[string]int // value -> line
		dontWant []string
	}{
		{"dotenv", "DB_PASSWORD=s3cr3t-value\nexport API_KEY='with space inside'\n",
			map[string]int{"s3cr3t-value": 1, "with space inside": 2}, nil},
		{"yaml", "db:\n  password: hunter2hunter2 # old\n",
			map[string]int{"hunter2hunter2": 2}, nil},
		{"json", `{"token": "abc def ghi jkl", "id":"0123456789"}`,
			map[string]int{"abc def ghi jkl": 1, "0123456789": 1}, nil},
		{"go string", "const key = \"tok\\\"en-12345\"\n",
			map[string]int{`tok"en-12345`: 1}, nil},
		{"url userinfo", "dsn: postgres://app:p%40ssw0rd!x@db.example.com:5432/app\n",
			map[string]int{"p%40ssw0rd!x": 1, "p@ssw0rd!x": 1, "app:p%40ssw0rd!x": 1}, nil},
		{"base64 blob", "data: " + b64 + "\n",
			map[string]int{b64: 1, "inner-password-42": 1}, nil},
		{"kv token", "curl -H X-Key:abcdefgh12345 x\n", map[string]int{"abcdefgh12345": 1}, nil},
		{"too short", "PASS=short\n", nil, []string{"short"}},
		{"crlf", "A=longenough\r\nB=alsolongenough\r\n", map[string]int{"longenough": 1, "alsolongenough": 2}, []string{"longenough\r"}},
		{"sentence", "the key is zyxwvuts12345.\n", map[string]int{"zyxwvuts12345": 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := collect([]byte(tt.in))
			for v, line := range tt.want {
				if !slices.Contains(got[v], line) {
					t.Errorf("Each(%q): %q on lines %v, want line %d (got %v)", tt.in, v, got[v], line, keys(got))
				}
			}
			for _, v := range tt.dontWant {
				if _, ok := got[v]; ok {
					t.Errorf("Each(%q) emitted %q", tt.in, v)
				}
			}
		})
	}
}

func keys(m map[string][]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEachOncePerLine(t *testing.T) {
	t.Parallel()
	got := collect([]byte(`PASSWORD="same-value-1" other="same-value-1"` + "\n"))
	if n := len(got["same-value-1"]); n != 1 {
		t.Errorf("same-value-1 emitted %d times on one line, want 1", n)
	}
}

func FuzzEach(f *testing.F) {
	for _, s := range []string{
		"A=b\n", "KEY=\"quoted value\"", "x://u:p@h/", "data: c2VjcmV0LXZhbHVlLTEyMw==",
		"'unterminated", `"esc\"aped\\"`, "- key: value value\r\n", "\x00\xff\xfe", "://@:@", "====",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		Each(data, func(v []byte, line int) {
			if len(v) < MinLength || len(v) > MaxLength {
				t.Fatalf("candidate of length %d", len(v))
			}
			if line < 1 || line > lines {
				t.Fatalf("line %d of %d", line, lines)
			}
		})
	})
}

func BenchmarkEach(b *testing.B) {
	var buf bytes.Buffer
	for i := range 2000 {
		buf.WriteString("func handler(w http.ResponseWriter, r *http.Request) { // line\n")
		buf.WriteString("DB_URL=postgres://app:pw" + string(rune('a'+i%26)) + "xyzxyz@db:5432/app\n")
		buf.WriteString(`  "token": "` + base64.StdEncoding.EncodeToString([]byte("value-of-some-length")) + `",` + "\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Each(data, func([]byte, int) {})
	}
}

func TestBlocks(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAq\nZmFrZS1rZXktbWF0ZXJpYWw=\n-----END PRIVATE KEY-----"
	indented := "tls:\n  key: |\n    " + strings.ReplaceAll(pem, "\n", "\n    ") + "\n  other: x\n"
	json := "{\n  \"user\": \"app\",\n  \"password\": \"pw-12345678\"\n}\n"
	tests := []struct {
		name     string
		in       string
		whole    bool
		want     map[string]int // value -> line
		dontWant []string
	}{
		{"pem file", pem + "\n", true, map[string]int{pem: 1, pem + "\n": 1}, nil},
		{"pem in yaml", indented, false, map[string]int{pem: 3, pem + "\n": 3}, []string{indented}},
		{"pem in crlf", "x\r\n" + strings.ReplaceAll(pem, "\n", "\r\n") + "\r\n", false, map[string]int{pem: 2}, nil},
		{"unterminated pem", "-----BEGIN PRIVATE KEY-----\nabc\n-----END OTHER-----\n", false, nil, []string{"-----BEGIN PRIVATE KEY-----\nabc\n-----END OTHER-----"}},
		{"whole json", json, true, map[string]int{json: 1, strings.TrimSpace(json): 1}, nil},
		{"not whole", json, false, nil, []string{json, strings.TrimSpace(json)}},
		{"too large", strings.Repeat("a", MaxBlockLength+1), true, nil, []string{strings.Repeat("a", MaxBlockLength+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := map[string][]int{}
			Blocks([]byte(tt.in), tt.whole, func(v []byte, line int) {
				got[string(v)] = append(got[string(v)], line)
			})
			for v, line := range tt.want {
				if !slices.Contains(got[v], line) {
					t.Errorf("Blocks: %q on lines %v, want line %d (got %q)", v, got[v], line, keys(got))
				}
			}
			for _, v := range tt.dontWant {
				if _, ok := got[v]; ok {
					t.Errorf("Blocks emitted %q", v)
				}
			}
		})
	}
}

func FuzzBlocks(f *testing.F) {
	for _, s := range []string{
		"-----BEGIN X-----\nabc\n-----END X-----\n", "-----BEGIN -----\n-----END -----", "  -----BEGIN A B-----\r\n  x\r\n  -----END A B-----",
		"{\n \"a\": 1\n}\n", "-----BEGIN X-----\n-----BEGIN Y-----\n-----END Y-----\n",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, whole bool) {
		lines := bytes.Count(data, []byte("\n")) + 1
		Blocks(data, whole, func(v []byte, line int) {
			if len(v) < MinLength || len(v) > MaxBlockLength {
				t.Fatalf("candidate of length %d", len(v))
			}
			if line < 1 || line > lines {
				t.Fatalf("line %d of %d", line, lines)
			}
		})
	})
}
