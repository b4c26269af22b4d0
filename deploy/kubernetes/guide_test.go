package kubernetes_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	agentconfig "github.com/coffer-secrets/coffer/internal/agent/config"
	serverconfig "github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// block is one fenced code block of a Markdown file.
type block struct {
	lang string
	line int // of the opening fence
	text string
}

// fencedBlocks returns the fenced code blocks of a Markdown text, in order.
// An unclosed fence is an error.
func fencedBlocks(md string) ([]block, error) {
	var blocks []block
	var cur *block
	var body strings.Builder
	for i, line := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: i + 1}
			body.Reset()
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: code block is never closed", cur.line)
	}
	return blocks, nil
}

func TestFencedBlocks(t *testing.T) {
	t.Parallel()
	md := "text\n```hcl\na = 1\n```\nmore\n```sh\necho hi\n\n```\n"
	want := []block{{lang: "hcl", line: 2, text: "a = 1\n"}, {lang: "sh", line: 6, text: "echo hi\n\n"}}
	got, err := fencedBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(block{})); diff != "" {
		t.Errorf("fencedBlocks (-want +got):\n%s", diff)
	}
	if _, err := fencedBlocks("```hcl\na = 1\n"); err == nil {
		t.Error("fencedBlocks accepted an unclosed block")
	}
}

// guide is what the tests read from docs/kubernetes.md.
type guide struct {
	blocks []block
	// files are the hcl blocks whose first line is a comment naming a
	// file ("# web.hcl"), by that name.
	files map[string]string
	// commands are the coffer command lines of the shell blocks, split
	// into words, continuation lines joined.
	commands [][]string
}

func loadGuide(t testing.TB) *guide {
	t.Helper()
	md, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := fencedBlocks(string(md))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	g := &guide{blocks: blocks, files: make(map[string]string)}
	fileComment := regexp.MustCompile(`^# ([\w.-]+\.hcl)\n`)
	for _, b := range blocks {
		switch b.lang {
		case "hcl":
			if m := fileComment.FindStringSubmatch(b.text); m != nil {
				g.files[m[1]] = b.text
			}
		case "sh":
			for _, line := range shellLines(b.text) {
				words, err := shellWords(line)
				if err != nil {
					t.Fatalf("%s:%d: %v in %q", guidePath, b.line, err, line)
				}
				if len(words) > 0 && words[0] == "coffer" {
					g.commands = append(g.commands, words)
				}
			}
		}
	}
	return g
}

// shellLines joins continuation lines and drops comments and blank lines.
func shellLines(text string) []string {
	var lines []string
	var cur strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		l := strings.TrimSpace(cur.String())
		cur.Reset()
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// shellWords splits a command line into words with the shell's quoting
// (single and double quotes, backslash outside single quotes), up to the
// first unquoted "#", "|", ";", "&" or ">".
func shellWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == '\'':
			w.WriteRune(r)
		case r == '\\' && i+1 < len(rs):
			i++
			w.WriteRune(rs[i])
			inWord = true
		case quote == '"':
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case !inWord && strings.ContainsRune("#|;&>", r):
			return words, nil
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"coffer kv put secret/a k=v", []string{"coffer", "kv", "put", "secret/a", "k=v"}},
		{`coffer write x 'a=b c' "d=e f"`, []string{"coffer", "write", "x", "a=b c", "d=e f"}},
		{`a b\ c`, []string{"a", "b c"}},
		{"a b # comment", []string{"a", "b"}},
		{"a b | c", []string{"a", "b"}},
		{"a b && c", []string{"a", "b"}},
		{"a b > file", []string{"a", "b"}},
		{"a x#y", []string{"a", "x#y"}},
		{`a '{.data.ca\.crt}'`, []string{"a", `{.data.ca\.crt}`}},
	}
	for _, tt := range tests {
		got, err := shellWords(tt.in)
		if err != nil {
			t.Errorf("shellWords(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("shellWords(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if _, err := shellWords(`a 'b`); err == nil {
		t.Error(`shellWords("a 'b") accepted an unclosed quote`)
	}
}

func TestShellLines(t *testing.T) {
	t.Parallel()
	got := shellLines("# comment\ncoffer write a \\\n    b=c \\\n    d=e\n\nls\n")
	want := []string{"coffer write a     b=c     d=e", "ls"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shellLines (-want +got):\n%s", diff)
	}
}

// hclKind says which of Coffer's parsers an HCL file is for, from its
// top-level blocks and attributes: "server", "agent", "policy" or "".
func hclKind(body *hclsyntax.Body) string {
	has := func(names ...string) bool {
		for _, b := range body.Blocks {
			if slices.Contains(names, b.Type) {
				return true
			}
		}
		for name := range body.Attributes {
			if slices.Contains(names, name) {
				return true
			}
		}
		return false
	}
	switch {
	case has("storage", "listener", "api_addr"):
		return "server"
	case has("auto_auth", "vault", "template", "exec", "env_template", "exit_after_auth"):
		return "agent"
	case has("path"):
		return "policy"
	}
	return ""
}

// TestGuideHCL parses every hcl block of the guide, first as HCL syntax
// and then with the parser that reads such a file in Coffer: the server's
// configuration, the agent's, or an ACL policy.
func TestGuideHCL(t *testing.T) {
	t.Parallel()
	g := loadGuide(t)
	count := 0
	for _, b := range g.blocks {
		if b.lang != "hcl" {
			continue
		}
		count++
		name := fmt.Sprintf("%s:%d", guidePath, b.line)
		f, diags := hclsyntax.ParseConfig([]byte(b.text), name, hcl.InitialPos)
		if diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		switch hclKind(body) {
		case "server":
			if _, err := serverconfig.Parse([]byte(b.text), name, nil); err != nil {
				t.Errorf("%s: server configuration: %v", name, err)
			}
		case "agent":
			if _, err := agentconfig.Parse([]byte(b.text), name); err != nil {
				t.Errorf("%s: agent configuration: %v", name, err)
			}
		case "policy":
			if _, err := policy.Parse("guide", b.text); err != nil {
				t.Errorf("%s: policy: %v", name, err)
			}
		default:
			t.Errorf("%s: an hcl block that is neither a server nor an agent configuration nor a policy", name)
		}
	}
	if count == 0 {
		t.Errorf("%s has no hcl blocks", guidePath)
	}
}

func TestHCLKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want string
	}{
		{"storage \"bolt\" {\n path = \"x\"\n}\n", "server"},
		{"api_addr = \"https://x\"\n", "server"},
		{"exit_after_auth = true\n", "agent"},
		{"auto_auth {\n}\n", "agent"},
		{"path \"secret/*\" {\n capabilities = [\"read\"]\n}\n", "policy"},
		{"a = 1\n", ""},
	}
	for _, tt := range tests {
		f, diags := hclsyntax.ParseConfig([]byte(tt.src), "test.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("ParseConfig(%q): %v", tt.src, diags)
		}
		if got := hclKind(f.Body.(*hclsyntax.Body)); got != tt.want {
			t.Errorf("hclKind(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// TestGuideYAML decodes every yaml block of the guide strictly, as the
// manifests are.
func TestGuideYAML(t *testing.T) {
	t.Parallel()
	for _, b := range loadGuide(t).blocks {
		if b.lang != "yaml" {
			continue
		}
		_, errs := decodeAll([]byte(b.text), fmt.Sprintf("%s:%d", guidePath, b.line))
		for _, err := range errs {
			t.Error(err)
		}
	}
}

// TestGuideApplyNamesManifests checks that every manifest file the guide
// applies exists and that every manifest file is applied in the guide.
func TestGuideApplyNamesManifests(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	applied := make(map[string]bool)
	for _, m := range regexp.MustCompile(`deploy/kubernetes/([\w.-]+\.yaml)`).FindAllStringSubmatch(string(md), -1) {
		applied[m[1]] = true
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("%s names deploy/kubernetes/%s: %v", guidePath, m[1], err)
		}
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".yaml") && !applied[f.Name()] {
			t.Errorf("%s never mentions deploy/kubernetes/%s", guidePath, f.Name())
		}
	}
}

// kvSecrets returns, by API path (mount/data/path), the keys the guide's
// `coffer kv put` commands write. The first segment of the path is the
// mount, a KV version 2 engine in this guide.
func (g *guide) kvSecrets() map[string][]string {
	out := make(map[string][]string)
	for _, c := range g.commands {
		if len(c) < 5 || c[1] != "kv" || c[2] != "put" {
			continue
		}
		words := slices.DeleteFunc(slices.Clone(c[3:]), func(w string) bool { return strings.HasPrefix(w, "-") })
		mount, rest, _ := strings.Cut(words[0], "/")
		p := mount + "/data/" + rest
		for _, kv := range words[1:] {
			k, _, _ := strings.Cut(kv, "=")
			out[p] = append(out[p], k)
		}
	}
	return out
}

// role is a Kubernetes auth role as the guide writes it.
type role struct {
	names, namespaces, policies []string
	audience                    string
}

// kubernetesRoles returns the roles the guide's `coffer write
// auth/kubernetes/role/NAME` commands write.
func (g *guide) kubernetesRoles() map[string]role {
	out := make(map[string]role)
	for _, c := range g.commands {
		if len(c) < 3 || c[1] != "write" {
			continue
		}
		name, ok := strings.CutPrefix(c[2], "auth/kubernetes/role/")
		if !ok {
			continue
		}
		var r role
		for _, kv := range c[3:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "bound_service_account_names":
				r.names = strings.Split(v, ",")
			case "bound_service_account_namespaces":
				r.namespaces = strings.Split(v, ",")
			case "token_policies", "policies":
				r.policies = strings.Split(v, ",")
			case "audience":
				r.audience = v
			}
		}
		out[name] = r
	}
	return out
}

// policies returns the ACL policies the guide's `coffer policy write NAME
// FILE` commands upload, FILE being an hcl block named "# FILE".
func (g *guide) policies(t testing.TB) map[string]*policy.Policy {
	t.Helper()
	out := make(map[string]*policy.Policy)
	for _, c := range g.commands {
		if len(c) != 5 || c[1] != "policy" || c[2] != "write" {
			continue
		}
		src, ok := g.files[c[4]]
		if !ok {
			t.Errorf("%s: `coffer policy write %s %s`: no hcl block starts with \"# %s\"", guidePath, c[3], c[4], c[4])
			continue
		}
		p, err := policy.Parse(c[3], src)
		if err != nil {
			t.Errorf("%s: policy %s: %v", guidePath, c[3], err)
			continue
		}
		out[c[3]] = p
	}
	return out
}

func TestGuideCommandsParsed(t *testing.T) {
	t.Parallel()
	g := loadGuide(t)
	// The later tests rely on these; a guide rewritten so that none are
	// found would make them pass vacuously.
	if len(g.kvSecrets()) == 0 {
		t.Error("no `coffer kv put` commands found in the guide")
	}
	if len(g.kubernetesRoles()) == 0 {
		t.Error("no `coffer write auth/kubernetes/role/...` commands found in the guide")
	}
	if len(g.policies(t)) == 0 {
		t.Error("no `coffer policy write` commands found in the guide")
	}
	for name, r := range g.kubernetesRoles() {
		if len(r.names) == 0 || len(r.namespaces) == 0 || len(r.policies) == 0 {
			t.Errorf("role %s: want bound_service_account_names, bound_service_account_namespaces and token_policies", name)
		}
	}
}
