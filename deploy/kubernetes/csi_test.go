package kubernetes_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/coffer-secrets/coffer/internal/k8s/csi"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// The Secrets Store CSI provider's manifests are in csi/: the provider's
// DaemonSet and an example SecretProviderClass with a workload mounting
// it. They refer to the objects of this directory (namespaces, service
// accounts, the server's Service) and to the guide's roles and policies.

// csiDir holds the CSI provider's manifests.
const csiDir = "csi"

// providersDir is where the driver looks for provider sockets on a node.
const providersDir = "/etc/kubernetes/secrets-store-csi-providers"

// csiDriverName is the Secrets Store CSI driver's name.
const csiDriverName = "secrets-store.csi.k8s.io"

// csiExternal lists what the CSI manifests use but do not contain; the
// guide must show how to create each.
func csiExternal() map[string]string {
	return map[string]string{
		"ConfigMap/coffer/coffer-ca": "kubectl -n coffer create configmap coffer-ca",
	}
}

// secretProviderClass is the driver's SecretProviderClass
// (secrets-store.csi.x-k8s.io/v1) with the fields of its CRD, so that
// strict decoding refuses a misspelt one.
type secretProviderClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Provider      string            `json:"provider"`
		Parameters    map[string]string `json:"parameters,omitempty"`
		SecretObjects []struct {
			SecretName  string            `json:"secretName"`
			Type        string            `json:"type"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
			Data        []struct {
				ObjectName string `json:"objectName"`
				Key        string `json:"key"`
			} `json:"data"`
		} `json:"secretObjects,omitempty"`
	} `json:"spec"`
}

// decodeCSI decodes one document of the CSI manifests strictly: the kinds
// only they use here, and the others as decode does.
func decodeCSI(doc []byte, where string) (*object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("%s: read apiVersion and kind: %w", where, err)
	}
	var obj metav1.Object
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "secrets-store.csi.x-k8s.io/v1 SecretProviderClass":
		obj = &secretProviderClass{}
	default:
		return decode(doc, where)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, tm.Kind, err)
	}
	o := &object{where: where, kind: tm.Kind, name: obj.GetName(), ns: obj.GetNamespace(), obj: obj}
	if o.name == "" || o.ns == "" {
		return nil, fmt.Errorf("%s: %s needs metadata.name and metadata.namespace", where, o.kind)
	}
	return o, nil
}

// loadCSI decodes the CSI manifests and indexes them with this
// directory's.
func loadCSI(t *testing.T) (csiObjs []*object, ix *index) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(csiDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s/", csiDir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(data) {
			o, err := decodeCSI(doc, fmt.Sprintf("%s#%d", f, i+1))
			if err != nil {
				t.Error(err)
				continue
			}
			csiObjs = append(csiObjs, o)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return csiObjs, newIndex(append(loadManifests(t), csiObjs...))
}

func (ix *index) hasCSI(kind, ns, name string) bool {
	_, ext := csiExternal()[kind+"/"+ns+"/"+name]
	return ext || ix.has(kind, ns, name)
}

func TestCSIManifests(t *testing.T) {
	t.Parallel()
	objs, ix := loadCSI(t)
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.kind] = true
		if n := len(slices.DeleteFunc(slices.Clone(ix.objs), func(x *object) bool { return x.id() != o.id() })); n > 1 {
			t.Errorf("%s: %s is defined %d times", o.where, o.id(), n)
		}
		if !ix.has("Namespace", "", o.ns) {
			t.Errorf("%s: %s is in namespace %q, which no manifest creates", o.where, o.id(), o.ns)
		}
	}
	for _, k := range []string{"ServiceAccount", "DaemonSet", "SecretProviderClass", "Deployment"} {
		if !kinds[k] {
			t.Errorf("no %s among the CSI manifests", k)
		}
	}
}

// checkCSIPod checks what every pod template of the CSI manifests must
// get right: its selector, service account, volumes, images, limits and
// security context.
func checkCSIPod(t *testing.T, ix *index, o *object, sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) {
	t.Helper()
	where := o.where + ": " + o.id()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || sel == nil || s.Empty() || !s.Matches(labels.Set(tmpl.Labels)) {
		t.Errorf("%s: selector %v does not match the pod template's labels %v", where, sel, tmpl.Labels)
	}
	spec := &tmpl.Spec
	if sa := spec.ServiceAccountName; sa == "" || !ix.has("ServiceAccount", o.ns, sa) {
		t.Errorf("%s: serviceAccountName %q is not a ServiceAccount in namespace %s", where, sa, o.ns)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a Kubernetes API token it does not need", where)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil && !ix.hasCSI("ConfigMap", o.ns, v.ConfigMap.Name) {
			t.Errorf("%s: volume %q uses ConfigMap %q, which does not exist", where, v.Name, v.ConfigMap.Name)
		}
	}
	for _, c := range allContainers(spec) {
		if ref := c.Image[strings.LastIndex(c.Image, "/")+1:]; !strings.Contains(ref, ":") || strings.HasSuffix(ref, ":latest") {
			t.Errorf("%s: container %s: image %q has no fixed tag", where, c.Name, c.Image)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: container %s mounts volume %q, which the pod does not define", where, c.Name, m.Name)
			}
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: container %s has no %s limit", where, c.Name, r)
			}
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: container %s has no %s request", where, c.Name, r)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: container %s has no securityContext", where, c.Name)
		case sc.Privileged != nil && *sc.Privileged,
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation,
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem,
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: container %s: want no privilege, no escalation, a read-only root and all capabilities dropped", where, c.Name)
		}
	}
}

func TestCSIProviderDaemonSet(t *testing.T) {
	t.Parallel()
	objs, ix := loadCSI(t)
	var found int
	for _, o := range objs {
		ds, ok := o.obj.(*appsv1.DaemonSet)
		if !ok {
			continue
		}
		found++
		where := o.where + ": " + o.id()
		checkCSIPod(t, ix, o, ds.Spec.Selector, &ds.Spec.Template)
		spec := &ds.Spec.Template.Spec
		if spec.NodeSelector["kubernetes.io/os"] != "linux" {
			t.Errorf("%s: no nodeSelector kubernetes.io/os: linux (the provider serves a unix socket)", where)
		}
		var providers int
		for _, c := range spec.Containers {
			if sub, _ := cofferArgs(&c); sub != "csi-provider" {
				continue
			}
			_, args := cofferArgs(&c)
			providers++
			endpoint, _ := flagValue(args, "endpoint")
			if endpoint == "" {
				endpoint = csi.DefaultEndpoint
			}
			sock, err := csi.SocketPath(endpoint)
			if err != nil {
				t.Errorf("%s: -endpoint: %v", where, err)
				continue
			}
			f, ok := resolve(&c, sock)
			v := csiVolume(spec, f.volume)
			if !ok || v == nil || v.HostPath == nil || filepath.Clean(v.HostPath.Path) != providersDir || strings.Contains(f.rel, "/") || f.ro {
				t.Errorf("%s: the socket %s is not in a writable mount of the node's %s", where, sock, providersDir)
			}
			addr, _ := flagValue(args, "address")
			if u, err := url.Parse(addr); err != nil || !ix.serviceAt(u) {
				t.Errorf("%s: -address %q is not the https address of a Service in the manifests", where, addr)
			}
			if ca, ok := flagValue(args, "ca-cert"); ok {
				if f, ok := resolve(&c, ca); !ok || csiVolume(spec, f.volume) == nil || !f.ro {
					t.Errorf("%s: -ca-cert %s is not in a read-only volume", where, ca)
				}
			}
			if _, ok := flagValue(args, "allow-address-override"); ok {
				t.Errorf("%s: -allow-address-override lets any SecretProviderClass send tokens elsewhere; the example must not", where)
			}
		}
		if providers != 1 {
			t.Errorf("%s: %d containers run coffer csi-provider, want 1", where, providers)
		}
	}
	if found == 0 {
		t.Error("no DaemonSet among the CSI manifests")
	}
}

// csiVolume returns the volume of spec named name, or nil.
func csiVolume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// csiObject is one entry of a SecretProviderClass's objects parameter, as
// far as the guide can check it.
type csiObject struct {
	ObjectName string `json:"objectName"`
	SecretPath string `json:"secretPath"`
	SecretKey  string `json:"secretKey"`
}

func TestCSISecretProviderClasses(t *testing.T) {
	t.Parallel()
	objs, ix := loadCSI(t)
	g := loadGuide(t)
	roles := g.kubernetesRoles()
	acl := map[string]*policy.Policy{}
	for n, p := range g.policies(t) {
		acl[n] = p
	}
	secrets := g.kvSecrets()
	spcs := map[string]*secretProviderClass{}
	for _, o := range objs {
		spc, ok := o.obj.(*secretProviderClass)
		if !ok {
			continue
		}
		where := o.where + ": " + o.id()
		spcs[o.ns+"/"+o.name] = spc
		if spc.Spec.Provider != csi.RuntimeName {
			t.Errorf("%s: provider %q, want %q", where, spc.Spec.Provider, csi.RuntimeName)
			continue
		}
		roleName, paths, err := csi.CheckParameters(spc.Spec.Parameters)
		if err != nil {
			t.Errorf("%s: the provider refuses the parameters: %v", where, err)
			continue
		}
		r, ok := roles[roleName]
		if !ok {
			t.Errorf("%s: role %q is never written in the guide", where, roleName)
			continue
		}
		if r.audience == "" || r.audience != spc.Spec.Parameters["audience"] {
			t.Errorf("%s: audience %q, but role %s wants %q", where, spc.Spec.Parameters["audience"], roleName, r.audience)
		}
		var ps []*policy.Policy
		for _, n := range r.policies {
			ps = append(ps, acl[n])
		}
		a := policy.NewACL(slices.DeleteFunc(ps, func(p *policy.Policy) bool { return p == nil }))
		for _, p := range paths {
			if !a.Check(policy.Request{Path: p, Operation: "read"}).Allowed {
				t.Errorf("%s: role %s's policies %v do not allow reading %s", where, roleName, r.policies, p)
			}
		}
		var list []csiObject
		if err := yaml.Unmarshal([]byte(spc.Spec.Parameters["objects"]), &list); err != nil {
			t.Errorf("%s: objects: %v", where, err)
		}
		for _, ob := range list {
			keys, ok := secrets[ob.SecretPath]
			if !ok {
				t.Errorf("%s: object %s reads %s, which the guide never writes", where, ob.ObjectName, ob.SecretPath)
			} else if ob.SecretKey != "" && !slices.Contains(keys, ob.SecretKey) {
				t.Errorf("%s: object %s reads key %q of %s, which the guide writes with keys %v", where, ob.ObjectName, ob.SecretKey, ob.SecretPath, keys)
			}
		}
	}
	if len(spcs) == 0 {
		t.Fatal("no SecretProviderClass among the CSI manifests")
	}

	// Every pod mounting a CSI volume names a SecretProviderClass of its
	// namespace whose role binds the pod's service account.
	var mounts int
	for _, o := range objs {
		d, ok := o.obj.(*appsv1.Deployment)
		if !ok {
			continue
		}
		checkCSIPod(t, ix, o, d.Spec.Selector, &d.Spec.Template)
		spec := &d.Spec.Template.Spec
		for _, v := range spec.Volumes {
			if v.CSI == nil {
				continue
			}
			mounts++
			where := fmt.Sprintf("%s: %s volume %s", o.where, o.id(), v.Name)
			if v.CSI.Driver != csiDriverName || v.CSI.ReadOnly == nil || !*v.CSI.ReadOnly {
				t.Errorf("%s: want driver %s, read-only (the driver refuses others)", where, csiDriverName)
			}
			name := v.CSI.VolumeAttributes["secretProviderClass"]
			spc := spcs[o.ns+"/"+name]
			if spc == nil {
				t.Errorf("%s: secretProviderClass %q is not in namespace %s", where, name, o.ns)
				continue
			}
			r := roles[spc.Spec.Parameters["roleName"]]
			if !slices.ContainsFunc(r.names, func(n string) bool { return globMatch(n, spec.ServiceAccountName) }) ||
				!slices.ContainsFunc(r.namespaces, func(n string) bool { return globMatch(n, o.ns) }) {
				t.Errorf("%s: role %s does not bind service account %s/%s", where, spc.Spec.Parameters["roleName"], o.ns, spec.ServiceAccountName)
			}
		}
	}
	if mounts == 0 {
		t.Error("no workload mounts a SecretProviderClass")
	}
}

func TestCSIGuide(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	// The guide's SecretProviderClasses ("yaml csi" blocks) are the
	// manifests'.
	objs, _ := loadCSI(t)
	shown := 0
	for _, b := range loadGuide(t).blocks {
		if b.lang != "yaml csi" {
			continue
		}
		for i, doc := range splitDocuments([]byte(b.text)) {
			where := fmt.Sprintf("%s:%d#%d", guidePath, b.line, i+1)
			o, err := decodeCSI(doc, where)
			if err != nil {
				t.Error(err)
				continue
			}
			shown++
			i := slices.IndexFunc(objs, func(m *object) bool { return m.id() == o.id() })
			if i < 0 {
				t.Errorf("%s: %s is in no manifest", where, o.id())
			} else if diff := cmp.Diff(objs[i].obj, o.obj); diff != "" {
				t.Errorf("%s: %s differs from %s (-manifest +guide):\n%s", where, o.id(), objs[i].where, diff)
			}
		}
	}
	if shown == 0 {
		t.Errorf("%s shows no SecretProviderClass in a yaml csi block", guidePath)
	}
	for id, cmd := range csiExternal() {
		if !strings.Contains(string(guide), cmd) {
			t.Errorf("%s is used by the CSI manifests but %s never shows `%s`", id, guidePath, cmd)
		}
	}
	files, err := filepath.Glob(filepath.Join(csiDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(string(guide), "`"+filepath.ToSlash(f)+"`") {
			t.Errorf("%s never names `%s`", guidePath, filepath.ToSlash(f))
		}
	}
	if !regexp.MustCompile(`tokenRequests\[0\]\.audience=coffer`).Match(guide) {
		t.Errorf("%s does not show how to give the driver tokenRequests for the audience coffer", guidePath)
	}
}
