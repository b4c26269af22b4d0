package kubernetes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"
)

// guidePath is the guide whose manifests this directory holds.
const guidePath = "../../docs/kubernetes.md"

// external lists the objects the manifests use but do not contain, because
// the operator creates them (they hold key material or depend on the
// cluster). The guide must say how to create each one.
func external() map[string]bool {
	return map[string]bool{
		"Secret/coffer/coffer-tls": true, // the server's TLS key and certificate
		"ConfigMap/demo/coffer-ca": true, // the CA certificate clients trust
	}
}

// object is one decoded manifest document.
type object struct {
	where string // file#index, for messages
	kind  string
	name  string
	ns    string
	obj   any // a pointer to the k8s.io/api type
}

func (o *object) id() string { return o.kind + "/" + o.ns + "/" + o.name }

// newTyped returns a new value of the API type for apiVersion and kind.
func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 Pod":
		return &corev1.Pod{}, true
	case "apiserver.config.k8s.io/v1 EncryptionConfiguration":
		return &apiserverv1.EncryptionConfiguration{}, true
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, true
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, true
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}, true
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}, true
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}, true
	}
	return nil, false
}

// configFile reports whether kind is a file a Kubernetes component reads
// rather than an API object: it has no metadata.
func configFile(kind string) bool {
	return kind == "EncryptionConfiguration"
}

func clusterScoped(kind string) bool {
	return kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding"
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a multi-document YAML stream at its "---" lines
// and drops documents holding only comments and blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		empty := true
		for line := range strings.SplitSeq(d, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decode decodes one document strictly into its API type.
func decode(doc []byte, where string) (*object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("%s: read apiVersion and kind: %w", where, err)
	}
	obj, ok := newTyped(tm.APIVersion, tm.Kind)
	if !ok {
		return nil, fmt.Errorf("%s: unknown apiVersion %q and kind %q", where, tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, tm.Kind, err)
	}
	if configFile(tm.Kind) {
		return &object{where: where, kind: tm.Kind, obj: obj}, nil
	}
	meta := obj.(metav1.Object)
	o := &object{where: where, kind: tm.Kind, name: meta.GetName(), ns: meta.GetNamespace(), obj: obj}
	switch {
	case o.name == "":
		return nil, fmt.Errorf("%s: %s has no metadata.name", where, o.kind)
	case clusterScoped(o.kind) && o.ns != "":
		return nil, fmt.Errorf("%s: %s %s is cluster-scoped but names namespace %q", where, o.kind, o.name, o.ns)
	case !clusterScoped(o.kind) && o.ns == "":
		return nil, fmt.Errorf("%s: %s %s has no metadata.namespace", where, o.kind, o.name)
	}
	return o, nil
}

// decodeAll decodes every document of a YAML stream.
func decodeAll(data []byte, name string) ([]*object, []error) {
	var objs []*object
	var errs []error
	for i, doc := range splitDocuments(data) {
		o, err := decode(doc, fmt.Sprintf("%s#%d", name, i+1))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}

// loadManifests decodes every *.yaml file in this directory.
func loadManifests(t testing.TB) []*object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml manifests found")
	}
	var objs []*object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, errs := decodeAll(data, f)
		for _, err := range errs {
			t.Error(err)
		}
		objs = append(objs, got...)
	}
	if t.Failed() {
		t.FailNow()
	}
	return objs
}

func TestSplitDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one", "a: 1\n", []string{"a: 1\n"}},
		{"leading separator", "---\na: 1\n", []string{"\na: 1\n"}},
		{"two", "a: 1\n---\nb: 2\n", []string{"a: 1\n", "\nb: 2\n"}},
		{"comment-only documents dropped", "# header\n---\na: 1\n---\n# trailer\n", []string{"\na: 1\n"}},
		{"separator with trailing blanks", "a: 1\n---  \nb: 2", []string{"a: 1\n", "\nb: 2"}},
		{"indented dashes are content", "a: |\n  ---\n", []string{"a: |\n  ---\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, d := range splitDocuments([]byte(tt.in)) {
				got = append(got, string(d))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitDocuments(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\ndatta: {}\n", `unknown field "datta"`},
		{"unknown nested field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, namespace: b}\nspec: {replica: 1}\n", `unknown field "replica"`},
		{"unknown kind", "apiVersion: v1\nkind: Pod2\nmetadata: {name: a}\n", "unknown apiVersion"},
		{"wrong apiVersion", "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: a}\n", "unknown apiVersion"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\ndata: {x: '1', x: '2'}\n", "already set"},
		{"wrong type", "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\nspec: {ports: 8200}\n", "cannot unmarshal"},
		{"no name", "apiVersion: v1\nkind: Namespace\nmetadata: {}\n", "no metadata.name"},
		{"no namespace", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n", "no metadata.namespace"},
		{"namespaced cluster object", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n", "cluster-scoped"},
		{"unknown field in a configuration file", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: [{resources: [secrets], providers: [{kms: {apiVersion: v2, name: a, endpoint: 'unix:///a', timout: 3s}}]}]\n", `unknown field "timout"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode([]byte(tt.doc), "test")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decode(%q) = %v, want an error containing %q", tt.doc, err, tt.want)
			}
		})
	}
}

// index holds the decoded manifests by id.
type index struct {
	objs []*object
	byID map[string]*object
}

func newIndex(objs []*object) *index {
	ix := &index{objs: objs, byID: make(map[string]*object)}
	for _, o := range objs {
		ix.byID[o.id()] = o
	}
	return ix
}

// has reports whether kind/ns/name is in the manifests or is external.
func (ix *index) has(kind, ns, name string) bool {
	id := kind + "/" + ns + "/" + name
	return ix.byID[id] != nil || external()[id]
}

func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	objs := loadManifests(t)
	seen := make(map[string]string)
	kinds := make(map[string]bool)
	for _, o := range objs {
		if prev, dup := seen[o.id()]; dup {
			t.Errorf("%s: %s is defined twice (first in %s)", o.where, o.id(), prev)
		}
		seen[o.id()] = o.where
		kinds[o.kind] = true
	}
	// The guide promises these; a file dropped by mistake shows here.
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Service", "StatefulSet", "Deployment", "ClusterRoleBinding"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

func TestNamespacesExist(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	for _, o := range ix.objs {
		if o.ns != "" && !ix.has("Namespace", "", o.ns) {
			t.Errorf("%s: %s is in namespace %q, which no manifest creates", o.where, o.id(), o.ns)
		}
	}
}

// workload is a pod template with its owner.
type workload struct {
	o        *object
	selector *metav1.LabelSelector
	tmpl     *corev1.PodTemplateSpec
	claims   []string // volumeClaimTemplates names
}

func (ix *index) workloads() []workload {
	var ws []workload
	for _, o := range ix.objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{o: o, selector: v.Spec.Selector, tmpl: &v.Spec.Template})
		case *appsv1.StatefulSet:
			w := workload{o: o, selector: v.Spec.Selector, tmpl: &v.Spec.Template}
			for _, c := range v.Spec.VolumeClaimTemplates {
				w.claims = append(w.claims, c.Name)
			}
			ws = append(ws, w)
		}
	}
	return ws
}

func TestSelectorsMatchTemplates(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	for _, w := range ix.workloads() {
		if w.selector == nil || (len(w.selector.MatchLabels) == 0 && len(w.selector.MatchExpressions) == 0) {
			t.Errorf("%s: %s has no selector", w.o.where, w.o.id())
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil {
			t.Errorf("%s: %s: selector: %v", w.o.where, w.o.id(), err)
			continue
		}
		if !sel.Matches(labels.Set(w.tmpl.Labels)) {
			t.Errorf("%s: %s: selector %s does not match the pod template's labels %v", w.o.where, w.o.id(), sel, w.tmpl.Labels)
		}
	}
}

func TestServicesSelectPods(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	ws := ix.workloads()
	for _, o := range ix.objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok {
			continue
		}
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("%s: Service %s selects nothing", o.where, o.name)
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var matched []workload
		for _, w := range ws {
			if w.o.ns == o.ns && sel.Matches(labels.Set(w.tmpl.Labels)) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			t.Errorf("%s: Service %s selects no pod template in namespace %s", o.where, o.name, o.ns)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.StrVal == "" {
				continue
			}
			for _, w := range matched {
				if !hasNamedPort(w.tmpl.Spec, p.TargetPort.StrVal) {
					t.Errorf("%s: Service %s targets port %q, which %s does not name", o.where, o.name, p.TargetPort.StrVal, w.o.id())
				}
			}
		}
	}
	for _, w := range ws {
		ss, ok := w.o.obj.(*appsv1.StatefulSet)
		if !ok {
			continue
		}
		gov := ix.byID["Service/"+w.o.ns+"/"+ss.Spec.ServiceName]
		if gov == nil {
			t.Errorf("%s: StatefulSet %s names serviceName %q, which does not exist", w.o.where, w.o.name, ss.Spec.ServiceName)
			continue
		}
		if svc := gov.obj.(*corev1.Service); svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("%s: StatefulSet %s: its governing Service %s is not headless", w.o.where, w.o.name, svc.Name)
		}
	}
}

func hasNamedPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range spec.InitContainers {
		cs = append(cs, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		cs = append(cs, &spec.Containers[i])
	}
	return cs
}

func TestPodSpecs(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	for _, w := range ix.workloads() {
		spec := &w.tmpl.Spec
		where := w.o.where + ": " + w.o.id()
		volumes := make(map[string]bool)
		for _, name := range w.claims {
			volumes[name] = true
		}
		for _, v := range spec.Volumes {
			if volumes[v.Name] {
				t.Errorf("%s: volume %q is defined twice", where, v.Name)
			}
			volumes[v.Name] = true
			switch {
			case v.ConfigMap != nil && !ix.has("ConfigMap", w.o.ns, v.ConfigMap.Name):
				t.Errorf("%s: volume %q uses ConfigMap %q, which does not exist", where, v.Name, v.ConfigMap.Name)
			case v.Secret != nil && !ix.has("Secret", w.o.ns, v.Secret.SecretName):
				t.Errorf("%s: volume %q uses Secret %q, which does not exist", where, v.Name, v.Secret.SecretName)
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == "" {
						t.Errorf("%s: volume %q projects a service account token without an audience", where, v.Name)
					}
				}
			}
		}
		if sa := spec.ServiceAccountName; sa == "" || !ix.has("ServiceAccount", w.o.ns, sa) {
			t.Errorf("%s: serviceAccountName %q is not a ServiceAccount in namespace %s", where, sa, w.o.ns)
		}
		names := make(map[string]bool)
		for _, c := range allContainers(spec) {
			if names[c.Name] {
				t.Errorf("%s: container name %q is used twice", where, c.Name)
			}
			names[c.Name] = true
			if c.Image == "" {
				t.Errorf("%s: container %s has no image", where, c.Name)
			} else if ref := c.Image[strings.LastIndex(c.Image, "/")+1:]; !strings.Contains(ref, ":") && !strings.Contains(ref, "@") || strings.HasSuffix(ref, ":latest") {
				t.Errorf("%s: container %s: image %q has no fixed tag", where, c.Name, c.Image)
			}
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					t.Errorf("%s: container %s mounts volume %q, which the pod does not define", where, c.Name, m.Name)
				}
			}
			for _, e := range c.Env {
				if e.Value != "" && secretLikeName(e.Name) {
					t.Errorf("%s: container %s sets %s literally in the pod spec; secrets come from Coffer", where, c.Name, e.Name)
				}
			}
		}
	}
}

// secretLikeName reports whether an environment variable's name says it
// holds a secret.
func secretLikeName(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE", "API_KEY", "APIKEY", "CREDENTIAL"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func TestSecretLikeName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"DB_PASSWORD", true},
		{"VAULT_TOKEN", true},
		{"aws_secret_access_key", true},
		{"COFFER_ADDR", false},
		{"COFFER_CACERT", false},
		{"HOME", false},
	}
	for _, tt := range tests {
		if got := secretLikeName(tt.name); got != tt.want {
			t.Errorf("secretLikeName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBindingsNameServiceAccounts(t *testing.T) {
	t.Parallel()
	ix := newIndex(loadManifests(t))
	for _, o := range ix.objs {
		var subjects []rbacv1.Subject
		switch v := o.obj.(type) {
		case *rbacv1.ClusterRoleBinding:
			subjects = v.Subjects
		case *rbacv1.RoleBinding:
			subjects = v.Subjects
		case *corev1.Secret:
			if v.Type == corev1.SecretTypeServiceAccountToken {
				sa := v.Annotations[corev1.ServiceAccountNameKey]
				if !ix.has("ServiceAccount", o.ns, sa) {
					t.Errorf("%s: token Secret %s is for service account %q, which does not exist", o.where, o.name, sa)
				}
			}
			continue
		default:
			continue
		}
		if len(subjects) == 0 {
			t.Errorf("%s: %s binds no subject", o.where, o.id())
		}
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && !ix.has("ServiceAccount", s.Namespace, s.Name) {
				t.Errorf("%s: %s binds service account %s/%s, which does not exist", o.where, o.id(), s.Namespace, s.Name)
			}
		}
	}
}

// secretPatterns recognise values that look like real secrets.
func secretPatterns() []struct {
	what string
	re   *regexp.Regexp
} {
	return []struct {
		what string
		re   *regexp.Regexp
	}{
		{"a PEM private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
		{"a JSON web token", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.`)},
		{"a Coffer or Vault token", regexp.MustCompile(`\b(cfs|hvs|hvb|s)\.[A-Za-z0-9_-]{20,}`)},
		{"a password in a URL", regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)},
		{"an AWS access key", regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`)},
	}
}

// secretLike says why s looks like a real secret, or "" when it does not.
func secretLike(s string) string {
	for _, p := range secretPatterns() {
		if p.re.MatchString(s) {
			return p.what
		}
	}
	return ""
}

// placeholder reports whether a Secret's value is an obvious stand-in.
func placeholder(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || regexp.MustCompile(`^(<[^<>]+>|CHANGE[-_]?ME|REPLACE[-_]?ME)$`).MatchString(s)
}

func TestSecretDetectors(t *testing.T) {
	t.Parallel()
	// Built at run time so that this file itself holds no such string.
	jwt := "eyJ" + strings.Repeat("hbGciOiJSUzI1", 2) + ".eyJ" + strings.Repeat("zdWIiOiJzeXN0", 2) + ".c2ln"
	tests := []struct {
		in        string
		secret    bool
		isPlaceho bool
	}{
		{"-----BEGIN " + "EC PRIVATE KEY-----\nMHc...", true, false},
		{"-----BEGIN " + "PRIVATE KEY-----", true, false},
		{"-----BEGIN CERTIFICATE-----", false, false},
		{jwt, true, false},
		{"cfs." + strings.Repeat("Ab1", 11), true, false},
		{"hvs." + strings.Repeat("xY9", 10), true, false},
		{"postgres://coffer:" + "hunter2@db:5432/coffer", true, false},
		{"postgres://coffer@db:5432/coffer", false, false},
		{"https://coffer.coffer.svc:8200", false, false},
		{"AKIA" + "ABCDEFGHIJKLMNOP", true, false},
		{"<your password>", false, true},
		{"CHANGE-ME", false, true},
		{"s3cr3t", false, false},
	}
	for _, tt := range tests {
		if got := secretLike(tt.in) != ""; got != tt.secret {
			t.Errorf("secretLike(%q) = %q, want secret=%v", tt.in, secretLike(tt.in), tt.secret)
		}
		if got := placeholder(tt.in); got != tt.isPlaceho {
			t.Errorf("placeholder(%q) = %v, want %v", tt.in, got, tt.isPlaceho)
		}
	}
}

// strings walks a decoded YAML document and calls f with every string.
func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case map[string]any:
		for k, e := range v {
			f(k)
			walkStrings(e, f)
		}
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	}
}

func TestNoSecretsInManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(data) {
			var generic any
			if err := yaml.Unmarshal(doc, &generic); err != nil {
				t.Errorf("%s#%d: %v", f, i+1, err)
				continue
			}
			walkStrings(generic, func(s string) {
				if why := secretLike(s); why != "" {
					t.Errorf("%s#%d: holds what looks like %s", f, i+1, why)
				}
			})
		}
	}
	for _, o := range loadManifests(t) {
		s, ok := o.obj.(*corev1.Secret)
		if !ok {
			continue
		}
		for k, v := range s.Data {
			if !placeholder(string(v)) {
				t.Errorf("%s: Secret %s carries a value for %q; create secrets in the cluster, not in manifests", o.where, o.name, k)
			}
		}
		for k, v := range s.StringData {
			if !placeholder(v) {
				t.Errorf("%s: Secret %s carries a value for %q; create secrets in the cluster, not in manifests", o.where, o.name, k)
			}
		}
	}
}

func TestExternalObjectsAreDocumented(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	for id := range external() {
		parts := strings.SplitN(id, "/", 3)
		kind, ns, name := parts[0], parts[1], parts[2]
		verb := "create secret"
		if kind == "ConfigMap" {
			verb = "create configmap"
		}
		re := regexp.MustCompile(`kubectl (-n ` + regexp.QuoteMeta(ns) + ` )?` + verb + `( \w+)? ` + regexp.QuoteMeta(name) + `\b`)
		if !re.Match(guide) {
			t.Errorf("%s is used by the manifests but %s never shows `kubectl -n %s %s %s`", id, guidePath, ns, verb, name)
		}
	}
}
