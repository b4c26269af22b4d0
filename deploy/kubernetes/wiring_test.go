package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	corev1 "k8s.io/api/core/v1"

	agentconfig "github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/agent/template"
	serverconfig "github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// file is an absolute path inside a container, resolved to the volume
// holding it.
type file struct {
	volume string // the volume's name
	rel    string // the path inside the volume, "" for its root
	ro     bool   // mounted read-only
}

// resolve finds the volume mount of c that holds the absolute path p (the
// longest mount path that is p or a parent of it).
func resolve(c *corev1.Container, p string) (file, bool) {
	p = path.Clean(p)
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (p == mp || strings.HasPrefix(p, mp+"/") || mp == "/") && (best == nil || len(mp) > len(path.Clean(best.MountPath))) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return file{}, false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, path.Clean(best.MountPath)), "/")
	if best.SubPath != "" {
		rel = path.Join(best.SubPath, rel)
	}
	return file{volume: best.Name, rel: rel, ro: best.ReadOnly}, true
}

func TestResolve(t *testing.T) {
	t.Parallel()
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "a", MountPath: "/etc/a", ReadOnly: true},
		{Name: "b", MountPath: "/etc/a/b/"},
		{Name: "c", MountPath: "/data", SubPath: "sub"},
	}}
	tests := []struct {
		p    string
		want file
		ok   bool
	}{
		{"/etc/a/x.hcl", file{volume: "a", rel: "x.hcl", ro: true}, true},
		{"/etc/a/b/y", file{volume: "b", rel: "y"}, true},
		{"/etc/a/b", file{volume: "b", rel: ""}, true},
		{"/etc/ab/x", file{}, false},
		{"/data/z", file{volume: "c", rel: "sub/z"}, true},
		{"/other", file{}, false},
	}
	for _, tt := range tests {
		got, ok := resolve(c, tt.p)
		if got != tt.want || ok != tt.ok {
			t.Errorf("resolve(%q) = %+v, %v; want %+v, %v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

// pod is one workload's pod template with the manifests around it.
type pod struct {
	ix   *index
	w    workload
	spec *corev1.PodSpec
}

func (p *pod) where(c *corev1.Container) string {
	return fmt.Sprintf("%s: %s container %s", p.w.o.where, p.w.o.id(), c.Name)
}

func (p *pod) volume(name string) *corev1.Volume {
	for i, v := range p.spec.Volumes {
		if v.Name == name {
			return &p.spec.Volumes[i]
		}
	}
	return nil
}

func (p *pod) isInit(c *corev1.Container) bool {
	return slices.ContainsFunc(p.spec.InitContainers, func(ic corev1.Container) bool { return ic.Name == c.Name })
}

// readFile returns the contents of the file at the absolute path fp in
// container c, which must come from a ConfigMap in the manifests.
func (p *pod) readFile(c *corev1.Container, fp string) (string, error) {
	f, ok := resolve(c, fp)
	if !ok {
		return "", fmt.Errorf("%s is on no mounted volume", fp)
	}
	v := p.volume(f.volume)
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("%s is not on a ConfigMap volume", fp)
	}
	key := f.rel
	for _, it := range v.ConfigMap.Items {
		if it.Path == f.rel {
			key = it.Key
		}
	}
	o := p.ix.byID["ConfigMap/"+p.w.o.ns+"/"+v.ConfigMap.Name]
	if o == nil {
		return "", fmt.Errorf("%s: ConfigMap %s is not in the manifests", fp, v.ConfigMap.Name)
	}
	data, ok := o.obj.(*corev1.ConfigMap).Data[key]
	if !ok {
		return "", fmt.Errorf("%s: ConfigMap %s has no key %q", fp, v.ConfigMap.Name, key)
	}
	return data, nil
}

// checkMounted reports an error unless the absolute path fp is on a
// volume of c; writable asks for a volume mounted read-write, memory for
// an emptyDir in memory, persistent for a PersistentVolumeClaim.
func (p *pod) checkMounted(t *testing.T, c *corev1.Container, what, fp string, writable, memory, persistent bool) (file, bool) {
	t.Helper()
	f, ok := resolve(c, fp)
	if !ok {
		t.Errorf("%s: %s %s is on no mounted volume", p.where(c), what, fp)
		return f, false
	}
	if writable && f.ro {
		t.Errorf("%s: %s %s is on volume %q, mounted read-only", p.where(c), what, fp, f.volume)
	}
	v := p.volume(f.volume)
	if memory && (v == nil || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory) {
		t.Errorf("%s: %s %s must be on an emptyDir in memory, not volume %q", p.where(c), what, fp, f.volume)
	}
	if persistent && !slices.Contains(p.w.claims, f.volume) && (v == nil || v.PersistentVolumeClaim == nil) {
		t.Errorf("%s: %s %s must be on a persistent volume, not %q", p.where(c), what, fp, f.volume)
	}
	return f, true
}

// cofferArgs returns the coffer subcommand a container runs and its
// arguments, or "" when it does not run coffer.
func cofferArgs(c *corev1.Container) (string, []string) {
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(argv) < 2 || path.Base(argv[0]) != "coffer" {
		return "", nil
	}
	return argv[1], argv[2:]
}

// flagValue returns the value of -name or --name in args (as -name=v or
// -name v), up to the first "--".
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, prefix := range []string{"-" + name, "--" + name} {
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return v, true
			}
			if a == prefix && i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	return "", false
}

func flagValues(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			break
		}
		if v, ok := flagValue(args[i:i+1], name); ok {
			out = append(out, v)
		} else if (args[i] == "-"+name || args[i] == "--"+name) && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

func TestFlagValues(t *testing.T) {
	t.Parallel()
	args := []string{"-config=/a", "-secret", "A=b#c", "--secret=D=e#f", "--", "-secret=X=y#z"}
	if v, ok := flagValue(args, "config"); !ok || v != "/a" {
		t.Errorf("flagValue(config) = %q, %v", v, ok)
	}
	if got, want := flagValues(args, "secret"), []string{"A=b#c", "D=e#f"}; !slices.Equal(got, want) {
		t.Errorf("flagValues(secret) = %q, want %q", got, want)
	}
	if _, ok := flagValue(args, "watch"); ok {
		t.Error("flagValue found an absent flag")
	}
}

func (ix *index) pods() []*pod {
	var ps []*pod
	for _, w := range ix.workloads() {
		ps = append(ps, &pod{ix: ix, w: w, spec: &w.tmpl.Spec})
	}
	return ps
}

// loadConfig reads the -config file of a coffer container and checks its
// HCL syntax.
func (p *pod) loadConfig(t *testing.T, c *corev1.Container, args []string) (string, string, bool) {
	t.Helper()
	fp, ok := flagValue(args, "config")
	if !ok {
		t.Errorf("%s: coffer runs without -config", p.where(c))
		return "", "", false
	}
	src, err := p.readFile(c, fp)
	if err != nil {
		t.Errorf("%s: -config: %v", p.where(c), err)
		return "", "", false
	}
	if _, diags := hclsyntax.ParseConfig([]byte(src), fp, hcl.InitialPos); diags.HasErrors() {
		t.Errorf("%s: %v", p.where(c), diags)
		return "", "", false
	}
	return fp, src, true
}

func TestServerConfig(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	servers := 0
	for _, p := range ix.pods() {
		for _, c := range allContainers(p.spec) {
			sub, args := cofferArgs(c)
			if sub != "server" {
				continue
			}
			servers++
			fp, src, ok := p.loadConfig(t, c, args)
			if !ok {
				continue
			}
			cfg, err := serverconfig.Parse([]byte(src), fp, nil)
			if err != nil {
				t.Errorf("%s: %v", p.where(c), err)
				continue
			}
			if cfg.Storage.Bolt == nil {
				t.Errorf("%s: storage %q: the manifests run the single-node bolt storage", p.where(c), cfg.Storage.Type)
			} else {
				p.checkMounted(t, c, "bolt database", cfg.Storage.Bolt.Path, true, false, true)
			}
			for _, l := range cfg.Listeners {
				if l.TLSDisable || l.TLSCertFile == "" {
					t.Errorf("%s: listener %s must serve TLS with a configured certificate", p.where(c), l.Address)
					continue
				}
				for _, f := range []string{l.TLSCertFile, l.TLSKeyFile} {
					if r, ok := p.checkMounted(t, c, "TLS file", f, false, false, false); ok {
						if v := p.volume(r.volume); v == nil || v.Secret == nil {
							t.Errorf("%s: TLS file %s must come from a Secret", p.where(c), f)
						}
					}
				}
				_, port, _ := net.SplitHostPort(l.Address)
				if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return fmt.Sprint(cp.ContainerPort) == port }) {
					t.Errorf("%s: listener port %s is not a container port", p.where(c), port)
				}
			}
			if len(cfg.Audit) == 0 {
				t.Errorf("%s: no audit device", p.where(c))
			}
			for _, a := range cfg.Audit {
				if a.Type == "file" && strings.HasPrefix(a.FilePath, "/") {
					p.checkMounted(t, c, "audit file", a.FilePath, true, false, true)
				}
			}
			if u, err := url.Parse(cfg.APIAddr); err != nil || !p.ix.serviceAt(u) {
				t.Errorf("%s: api_addr %q is not the address of a Service in the manifests", p.where(c), cfg.APIAddr)
			}
			for _, e := range c.Env {
				if e.Name == "COFFER_CACERT" {
					p.checkMounted(t, c, "COFFER_CACERT", e.Value, false, false, false)
				}
			}
		}
	}
	if servers == 0 {
		t.Error("no container runs coffer server")
	}
}

// serviceAt reports whether u is https://NAME.NAMESPACE.svc[.cluster.local]:PORT
// of a Service in the manifests that has that port.
func (ix *index) serviceAt(u *url.URL) bool {
	if u.Scheme != "https" {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(u.Hostname(), ".cluster.local"), ".")
	if len(parts) != 3 || parts[2] != "svc" {
		return false
	}
	o := ix.byID["Service/"+parts[1]+"/"+parts[0]]
	if o == nil {
		return false
	}
	return slices.ContainsFunc(o.obj.(*corev1.Service).Spec.Ports, func(sp corev1.ServicePort) bool {
		return fmt.Sprint(sp.Port) == u.Port()
	})
}

// fetcher serves templates the secrets the guide writes, with placeholder
// values, and records the paths read.
type fetcher struct {
	secrets map[string][]string // API path -> keys
	read    []string
}

func (f *fetcher) Secret(_ context.Context, p string, _ map[string]string) (*template.Secret, error) {
	keys, ok := f.secrets[p]
	if !ok {
		return nil, fmt.Errorf("the guide writes no secret at %s", p)
	}
	f.read = append(f.read, p)
	data := make(map[string]any)
	for _, k := range keys {
		data[k] = "placeholder-" + k
	}
	return &template.Secret{Data: map[string]any{"data": data, "metadata": map[string]any{"version": 1}}}, nil
}

func (f *fetcher) PKICert(context.Context, string, map[string]string) (*template.PKICert, error) {
	return nil, errors.New("the guide issues no certificates")
}

// agentLogin is what an agent container logs in as.
type agentLogin struct {
	role      string
	audience  string
	sinks     []file // in the agent container's volumes
	readPaths []string
}

// checkAgent checks one agent container's configuration and returns what
// it logs in as.
func (p *pod) checkAgent(t *testing.T, c *corev1.Container, args []string, g *guide) (agentLogin, bool) {
	t.Helper()
	fp, src, ok := p.loadConfig(t, c, args)
	if !ok {
		return agentLogin{}, false
	}
	cfg, err := agentconfig.Parse([]byte(src), fp)
	if err != nil {
		t.Errorf("%s: %v", p.where(c), err)
		return agentLogin{}, false
	}
	where := p.where(c)
	// An init container that never exits holds the pod back forever; a
	// sidecar that exits is restarted in a loop.
	if init := p.isInit(c); init != cfg.ExitAfterAuth {
		t.Errorf("%s: exit_after_auth = %v in an init container = %v", where, cfg.ExitAfterAuth, init)
	}
	if u, err := url.Parse(cfg.Vault.Address); err != nil || !p.ix.serviceAt(u) {
		t.Errorf("%s: vault address %q is not the https address of a Service in the manifests", where, cfg.Vault.Address)
	}
	if cfg.Vault.TLSSkipVerify {
		t.Errorf("%s: tls_skip_verify is on", where)
	}
	if cfg.Vault.CACert == "" {
		t.Errorf("%s: no ca_cert: the server's certificate comes from a private CA", where)
	} else {
		p.checkMounted(t, c, "ca_cert", cfg.Vault.CACert, false, false, false)
	}
	var login agentLogin
	if cfg.AutoAuth == nil || cfg.AutoAuth.Method.Type != agentconfig.MethodKubernetes {
		t.Errorf("%s: the agent must log in with auto_auth method \"kubernetes\"", where)
		return agentLogin{}, false
	}
	m := cfg.AutoAuth.Method
	if m.Kubernetes == nil {
		t.Errorf("%s: method \"kubernetes\" has no kubernetes config", where)
		return agentLogin{}, false
	}
	if m.MountPath != "auth/kubernetes" {
		t.Errorf("%s: mount_path %q, the guide enables the method at auth/kubernetes", where, m.MountPath)
	}
	login.role = m.Kubernetes.Role
	if f, ok := p.checkMounted(t, c, "token_path", m.Kubernetes.TokenPath, false, false, false); ok {
		v := p.volume(f.volume)
		found := false
		if v != nil && v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == f.rel {
					found = true
					login.audience = s.ServiceAccountToken.Audience
				}
			}
		}
		if !found {
			t.Errorf("%s: token_path %s is not a projected service account token", where, m.Kubernetes.TokenPath)
		}
	}
	for _, s := range cfg.AutoAuth.Sinks {
		if f, ok := p.checkMounted(t, c, "sink", s.Path, true, true, false); ok {
			login.sinks = append(login.sinks, f)
		}
		if s.Mode&0o077 != 0 {
			t.Errorf("%s: sink %s has mode %04o; a token file is for its owner only", where, s.Path, s.Mode)
		}
	}
	fetch := &fetcher{secrets: g.kvSecrets()}
	for _, tc := range cfg.Templates {
		text := tc.Contents
		if tc.Source != "" {
			if text, err = p.readFile(c, tc.Source); err != nil {
				t.Errorf("%s: template: %v", where, err)
				continue
			}
		}
		tmpl, err := template.Parse(tc.Name(), text, template.Options{LeftDelim: tc.LeftDelim, RightDelim: tc.RightDelim, ErrorOnMissingKey: true})
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if _, err := tmpl.Render(t.Context(), fetch); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		f, ok := p.checkMounted(t, c, "template destination", tc.Destination, true, true, false)
		if ok && !p.sharedWithApp(c, f.volume) {
			t.Errorf("%s: template destination %s is on volume %q, which no application container mounts", where, tc.Destination, f.volume)
		}
	}
	for _, e := range cfg.EnvTemplates {
		tmpl, err := template.Parse(e.Name, e.Contents, template.Options{LeftDelim: e.LeftDelim, RightDelim: e.RightDelim, ErrorOnMissingKey: true})
		if err == nil {
			_, err = tmpl.Render(t.Context(), fetch)
		}
		if err != nil {
			t.Errorf("%s: env_template %s: %v", where, e.Name, err)
		}
	}
	login.readPaths = fetch.read
	return login, true
}

// sharedWithApp reports whether an application container other than c
// mounts the volume.
func (p *pod) sharedWithApp(c *corev1.Container, volume string) bool {
	for _, o := range p.spec.Containers {
		if o.Name != c.Name && slices.ContainsFunc(o.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume }) {
			return true
		}
	}
	return false
}

// checkRole checks that a login of the pod's service account with role
// is allowed by the guide's role, and that the role's policies allow
// reading every path.
func (p *pod) checkRole(t *testing.T, c *corev1.Container, g *guide, roleName, audience string, reads []string) {
	t.Helper()
	where := p.where(c)
	r, ok := g.kubernetesRoles()[roleName]
	if !ok {
		t.Errorf("%s: logs in with role %q, which the guide never writes", where, roleName)
		return
	}
	if !slices.ContainsFunc(r.names, func(n string) bool { return globMatch(n, p.spec.ServiceAccountName) }) {
		t.Errorf("%s: role %s does not bind service account %s", where, roleName, p.spec.ServiceAccountName)
	}
	if !slices.ContainsFunc(r.namespaces, func(n string) bool { return globMatch(n, p.w.o.ns) }) {
		t.Errorf("%s: role %s does not bind namespace %s", where, roleName, p.w.o.ns)
	}
	if r.audience == "" || r.audience != audience {
		t.Errorf("%s: role %s has audience %q, the pod's token %q", where, roleName, r.audience, audience)
	}
	all := g.policies(t)
	var ps []*policy.Policy
	for _, name := range r.policies {
		if pol, ok := all[name]; ok {
			ps = append(ps, pol)
		} else {
			t.Errorf("%s: role %s names policy %q, which the guide never writes", where, roleName, name)
		}
	}
	acl := policy.NewACL(ps)
	for _, rp := range reads {
		if !acl.Check(policy.Request{Path: rp, Operation: "read"}).Allowed {
			t.Errorf("%s: role %s's policies %v do not allow reading %s", where, roleName, r.policies, rp)
		}
	}
}

// globMatch matches s against a pattern where "*" is any run of
// characters, as role bindings do.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web", "web", true},
		{"web", "webx", false},
		{"web-*", "web-1", true},
		{"*", "anything", true},
		{"a*c", "abc", true},
		{"a*c", "abd", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestAgentsAndExec checks every container that runs the agent or coffer
// exec: its configuration parses, every file it names is mounted where it
// should be, its templates parse and render against the secrets the
// guide writes, it logs in with a role the guide writes for its service
// account and namespace, and that role's policies allow every read.
func TestAgentsAndExec(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	g := loadGuide(t)
	agents, execs := 0, 0
	for _, p := range ix.pods() {
		logins := make(map[string]agentLogin) // by container name
		for _, c := range allContainers(p.spec) {
			if sub, args := cofferArgs(c); sub == "agent" {
				agents++
				if l, ok := p.checkAgent(t, c, args, g); ok {
					logins[c.Name] = l
					switch {
					case len(l.readPaths) > 0:
						p.checkRole(t, c, g, l.role, l.audience, l.readPaths)
					case len(l.sinks) == 0:
						t.Errorf("%s: the agent renders nothing and writes no token", p.where(c))
					}
					// An agent that only writes a token is checked with
					// the container that uses it.
				}
			}
		}
		for _, c := range p.spec.Containers {
			if sub, args := cofferArgs(&c); sub == "exec" {
				execs++
				p.checkExec(t, &c, args, g, logins)
			}
		}
	}
	if agents == 0 || execs == 0 {
		t.Errorf("found %d agent and %d exec containers; the guide shows both", agents, execs)
	}
}

// checkExec checks a container whose entrypoint is coffer exec.
func (p *pod) checkExec(t *testing.T, c *corev1.Container, args []string, g *guide, logins map[string]agentLogin) {
	t.Helper()
	where := p.where(c)
	bin := c.Command[0]
	if f, ok := resolve(c, bin); ok {
		// The binary comes from a shared volume: an init container must
		// put it there.
		filled := false
		for _, ic := range p.spec.InitContainers {
			for _, a := range append(slices.Clone(ic.Command), ic.Args...) {
				if r, ok := resolve(&ic, a); ok && r.volume == f.volume && !r.ro && path.Join(r.rel) == path.Join(f.rel) {
					filled = true
				}
			}
		}
		if !filled {
			t.Errorf("%s: %s is on volume %q, which no init container writes to", where, bin, f.volume)
		}
	}
	if !slices.Contains(args, "--") {
		t.Errorf("%s: coffer exec without -- before the command", where)
	}
	secrets := g.kvSecrets()
	var reads []string
	refs := flagValues(args, "secret")
	if len(refs) == 0 {
		t.Errorf("%s: coffer exec without -secret", where)
	}
	for _, ref := range refs {
		name, rest, ok1 := strings.Cut(ref, "=")
		kvPath, key, ok2 := strings.Cut(rest, "#")
		if !ok1 || !ok2 || name == "" {
			t.Errorf("%s: -secret %q: want NAME=PATH#KEY", where, ref)
			continue
		}
		mount, sub, _ := strings.Cut(kvPath, "/")
		api := mount + "/data/" + sub
		if !slices.Contains(secrets[api], key) {
			t.Errorf("%s: -secret %q: the guide writes no key %q at %s", where, ref, key, kvPath)
		}
		// coffer exec asks which engine serves the path (allowed for any
		// token with access under the mount), then reads it.
		reads = append(reads, api)
	}
	if _, ok := flagValue(args, "auth"); ok {
		t.Errorf("%s: the example logs in with the agent, not -auth", where)
		return
	}
	// Without -auth, the CLI reads $HOME/.coffer-token: an init
	// container's agent must sink its token there.
	home := ""
	for _, e := range c.Env {
		if e.Name == "HOME" {
			home = e.Value
		}
	}
	f, ok := resolve(c, path.Join(home, ".coffer-token"))
	if home == "" || !ok {
		t.Errorf("%s: HOME is unset or $HOME/.coffer-token is on no volume", where)
		return
	}
	for _, ic := range p.spec.InitContainers {
		l, ok := logins[ic.Name]
		if ok && slices.Contains(l.sinks, file{volume: f.volume, rel: f.rel}) {
			p.checkRole(t, c, g, l.role, l.audience, reads)
			return
		}
	}
	t.Errorf("%s: no init container's agent writes its token to %s/.coffer-token", where, home)
}
