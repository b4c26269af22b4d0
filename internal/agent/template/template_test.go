package template

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeFetcher serves fixed secrets and records what was asked.
type fakeFetcher struct {
	secrets map[string]*Secret
	asked   []string
}

func (f *fakeFetcher) Secret(_ context.Context, path string, params map[string]string) (*Secret, error) {
	key := path
	if p, ok := params["common_name"]; ok {
		key += "?" + p
	}
	f.asked = append(f.asked, key)
	s, ok := f.secrets[path]
	if !ok {
		return nil, errors.New("no secret at " + path)
	}
	return s, nil
}

func (f *fakeFetcher) PKICert(_ context.Context, path string, params map[string]string) (*PKICert, error) {
	f.asked = append(f.asked, path+"?"+params["common_name"])
	return &PKICert{Data: PKIData{Cert: "CERT(" + params["common_name"] + ")", Key: "KEY", CA: "CA"}}, nil
}

func newFetcher() *fakeFetcher {
	return &fakeFetcher{secrets: map[string]*Secret{
		"secret/data/app": {LeaseDuration: 0, Data: map[string]any{
			"data":     map[string]any{"password": "hunter2", "user": "app", "tags": []any{"a", "b"}},
			"metadata": map[string]any{"version": 3},
		}},
		"kv1/app": {Data: map[string]any{"password": "p1"}},
		"database/creds/ro": {LeaseID: "database/creds/ro/abc", LeaseDuration: 3600, Renewable: true,
			Data: map[string]any{"username": "v-ro-x", "password": "pw"}},
	}}
}

func TestRender(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REGION": "eu", "EMPTY": ""}
	tests := []struct {
		name string
		text string
		opts Options
		want string
	}{
		{"kv v2 with", `{{ with secret "secret/data/app" }}{{ .Data.data.user }}:{{ .Data.data.password }}{{ end }}`, Options{}, "app:hunter2"},
		{"kv v1", `{{ (secret "kv1/app").Data.password }}`, Options{}, "p1"},
		{"leading slash", `{{ (secret "/kv1/app").Data.password }}`, Options{}, "p1"},
		{"lease fields", `{{ with secret "database/creds/ro" }}{{ .LeaseID }} {{ .LeaseDuration }} {{ .Renewable }}{{ end }}`, Options{}, "database/creds/ro/abc 3600 true"},
		{"pkiCert", `{{ with pkiCert "pki/issue/web" "common_name=a.svc" "ttl=1h" }}{{ .Data.Cert }}|{{ .Data.Key }}|{{ .Data.CA }}{{ end }}`, Options{}, "CERT(a.svc)|KEY|CA"},
		{"env", `{{ env "REGION" }}-{{ env "NOPE" }}-{{ envOrDefault "EMPTY" "d" }}`, Options{}, "eu--d"},
		{"toJSON", `{{ (secret "kv1/app").Data | toJSON }}`, Options{}, `{"password":"p1"}`},
		{"toJSONPretty", `{{ (secret "kv1/app").Data | toJSONPretty }}`, Options{}, "{\n  \"password\": \"p1\"\n}"},
		{"toUnescapedJSON", `{{ "<&>" | toUnescapedJSON }}`, Options{}, `"<&>"`},
		{"parseJSON", `{{ (parseJSON "{\"a\":[1,2]}").a | len }}`, Options{}, "2"},
		{"base64", `{{ "hello" | base64Encode }} {{ "aGVsbG8=" | base64Decode }} {{ "hi?" | base64URLEncode }} {{ "aGk_" | base64URLDecode }}`, Options{}, "aGVsbG8= hello aGk_ hi?"},
		{"sha256Hex", `{{ "abc" | sha256Hex }}`, Options{}, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"printf", `{{ printf "%s=%d" "n" 3 }}`, Options{}, "n=3"},
		{"contains string", `{{ if "production" | contains "prod" }}yes{{ end }}`, Options{}, "yes"},
		{"contains list", `{{ with secret "secret/data/app" }}{{ if .Data.data.tags | contains "b" }}b{{ end }}{{ if .Data.data.tags | contains "z" }}z{{ end }}{{ end }}`, Options{}, "b"},
		{"in", `{{ if in (split "," "a,b") "a" }}in{{ end }}`, Options{}, "in"},
		{"containsAny", `{{ containsAny (split "," "x,ro") "prod" }}`, Options{}, "true"},
		{"split join", `{{ split "," "a,b,c" | join ";" }}`, Options{}, "a;b;c"},
		{"split empty", `{{ split "," "" | len }}`, Options{}, "0"},
		{"join any", `{{ with secret "secret/data/app" }}{{ join "+" .Data.data.tags }}{{ end }}`, Options{}, "a+b"},
		{"replaceAll", `{{ "a-b-c" | replaceAll "-" "_" }}`, Options{}, "a_b_c"},
		{"regex", `{{ "v1.2.3" | regexReplaceAll "[0-9]" "N" }} {{ "abc" | regexMatch "^a" }}`, Options{}, "vN.N.N true"},
		{"case and trim", `{{ "AbC" | toLower }}{{ "AbC" | toUpper }}{{ "  x  " | trimSpace }}{{ "hello world" | toTitle }}`, Options{}, "abcABCxHello World"},
		{"trim family", `{{ "xxaxx" | trim "x" }}{{ "prefix-a" | trimPrefix "prefix-" }}{{ "a.txt" | trimSuffix ".txt" }}`, Options{}, "aaa"},
		{"indent", `{{ "a\nb" | indent 2 }}`, Options{}, "  a\n  b"},
		{"math", `{{ add 2 3 }} {{ subtract 2 10 }} {{ multiply 3 4 }} {{ divide 2 9 }} {{ modulo 4 9 }} {{ minimum 3 1 }} {{ maximum 3 1 }}`, Options{}, "5 8 12 4 1 1 3"},
		{"loop", `{{ range loop 3 }}{{ . }}{{ end }}{{ range loop 5 7 }}{{ . }}{{ end }}`, Options{}, "01256"},
		{"parse numbers", `{{ parseInt "42" }} {{ parseBool "true" }} {{ parseFloat "1.5" }}`, Options{}, "42 true 1.5"},
		{"keys", `{{ with secret "secret/data/app" }}{{ keys .Data.data | join "," }}{{ end }}`, Options{}, "password,tags,user"},
		{"missing key without option", `{{ with secret "secret/data/app" }}{{ .Data.data.nope }}{{ end }}`, Options{}, "<no value>"},
		{"delimiters", `[[ with secret "kv1/app" ]][[ .Data.password ]][[ end ]] {{ x }}`, Options{LeftDelim: "[[", RightDelim: "]]"}, "p1 {{ x }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Getenv = func(k string) string { return env[k] }
			tp, err := Parse("t.tmpl", tt.text, tt.opts)
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.text, err)
			}
			got, err := tp.Render(t.Context(), newFetcher())
			if err != nil {
				t.Fatalf("Render(%q) error = %v", tt.text, err)
			}
			if string(got) != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestTimestamp(t *testing.T) {
	t.Parallel()
	tp, err := Parse("t", `{{ timestamp }}|{{ timestamp "unix" }}|{{ timestamp "2006" }}`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC()
	out, err := tp.Render(t.Context(), newFetcher())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(out), "|")
	ts, err := time.Parse(time.RFC3339, parts[0])
	if err != nil || ts.Before(before.Truncate(time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp = %q, %v", parts[0], err)
	}
	if parts[2] != before.Format("2006") {
		t.Errorf("timestamp \"2006\" = %q", parts[2])
	}
}

func TestParseErrorNamesFileAndLine(t *testing.T) {
	t.Parallel()
	_, err := Parse("/etc/agent/app.tmpl", "line one\n{{ with secret \"a\" }}\n{{ .Data }\n", Options{})
	if err == nil || !strings.Contains(err.Error(), "/etc/agent/app.tmpl:3") {
		t.Fatalf("Parse error = %v, want it to name /etc/agent/app.tmpl:3", err)
	}
	_, err = Parse("x.tmpl", "{{ nosuchfunc }}", Options{})
	if err == nil || !strings.Contains(err.Error(), `"nosuchfunc" not defined`) {
		t.Fatalf("Parse error = %v, want an undefined function error", err)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string
		opts    Options
		wantErr string
	}{
		{"missing key", `{{ with secret "secret/data/app" }}{{ .Data.data.nope }}{{ end }}`, Options{ErrorOnMissingKey: true}, `map has no entry for key "nope"`},
		{"missing secret", `{{ with secret "secret/data/gone" }}{{ .Data.data.x }}{{ end }}`, Options{}, "no secret at secret/data/gone"},
		{"bad params", `{{ with secret "secret/data/app" }}{{ secret "pki/issue/x" .Data.data.password }}{{ end }}`, Options{}, "arguments must be key=value"},
		{"bad base64", `{{ "%%%" | base64Decode }}`, Options{}, "not valid base64"},
		{"divide by zero", `{{ divide 0 1 }}`, Options{}, "division by zero"},
		{"bad json", `{{ with secret "secret/data/app" }}{{ parseJSON .Data.data.password }}{{ end }}`, Options{}, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := Parse("e.tmpl", tt.text, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tp.Render(t.Context(), newFetcher())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Render(%q) = %q, %v; want error containing %q", tt.text, out, err, tt.wantErr)
			}
			if out != nil {
				t.Errorf("Render(%q) returned partial output %q with its error", tt.text, out)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Render(%q) error %q holds a secret value", tt.text, err)
			}
			if !strings.Contains(err.Error(), "e.tmpl") {
				t.Errorf("Render(%q) error %q does not name the template", tt.text, err)
			}
		})
	}
}

func FuzzTemplate(f *testing.F) {
	f.Add(`{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}`)
	f.Add(`{{ split "," "a,b" | join ";" }}`)
	f.Add(`{{ loop 3 }}{{ indent 2 "x" }}`)
	f.Fuzz(func(t *testing.T, text string) {
		tp, err := Parse("f", text, Options{ErrorOnMissingKey: true})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		out, err := tp.Render(ctx, newFetcher())
		if err != nil && out != nil {
			t.Fatalf("partial output with error")
		}
	})
}
