package kubernetes_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"

	agentconfig "github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/cli"
)

// kmsDir holds the KMS v2 plugin's files: the API server's
// EncryptionConfiguration, the plugin's static pod, and the agent
// configuration the pod reads from the node. They are copied to control
// plane nodes, not applied with kubectl.
const kmsDir = "kms"

// kmsFiles are the files the KMS plugin's pod reads from its node,
// relative to kmsDir, by their path on the node.
func kmsFiles() map[string]string {
	return map[string]string{"/etc/coffer/kms/agent.hcl": "agent.hcl"}
}

// loadKMS decodes kms/*.yaml strictly and returns the one
// EncryptionConfiguration and the one Pod.
func loadKMS(t *testing.T) (*apiserverv1.EncryptionConfiguration, *corev1.Pod) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kmsDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", kmsDir, err)
	}
	var encs []*apiserverv1.EncryptionConfiguration
	var pods []*corev1.Pod
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, errs := decodeAll(data, f)
		for _, err := range errs {
			t.Error(err)
		}
		for _, o := range objs {
			switch v := o.obj.(type) {
			case *apiserverv1.EncryptionConfiguration:
				encs = append(encs, v)
			case *corev1.Pod:
				pods = append(pods, v)
			default:
				t.Errorf("%s: unexpected %s in %s", o.where, o.kind, kmsDir)
			}
		}
	}
	if len(encs) != 1 || len(pods) != 1 {
		t.Fatalf("%s holds %d EncryptionConfigurations and %d Pods, want one of each", kmsDir, len(encs), len(pods))
	}
	return encs[0], pods[0]
}

// kmsProvider returns the KMS v2 provider that encrypts Secrets: the
// first provider of the resource group that lists "secrets".
func kmsProvider(t *testing.T, enc *apiserverv1.EncryptionConfiguration) *apiserverv1.KMSConfiguration {
	t.Helper()
	for _, r := range enc.Resources {
		if !slices.Contains(r.Resources, "secrets") {
			continue
		}
		if len(r.Providers) < 2 {
			t.Fatalf("the secrets group has %d providers, want the KMS plugin first and identity last", len(r.Providers))
		}
		if last := r.Providers[len(r.Providers)-1]; last.Identity == nil {
			t.Error("the secrets group does not end with the identity provider: data written before encryption was enabled would be unreadable")
		}
		if r.Providers[0].KMS == nil {
			t.Fatal("the secrets group's first provider (the one that writes) is not kms")
		}
		return r.Providers[0].KMS
	}
	t.Fatal("no resource group encrypts secrets")
	return nil
}

func TestKMSEncryptionConfiguration(t *testing.T) {
	t.Parallel()
	enc, _ := loadKMS(t)
	for i, r := range enc.Resources {
		for j, p := range r.Providers {
			n := 0
			for _, set := range []bool{p.AESGCM != nil, p.AESCBC != nil, p.Secretbox != nil, p.Identity != nil, p.KMS != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				t.Errorf("resources[%d].providers[%d] sets %d providers, want exactly one", i, j, n)
			}
		}
	}
	k := kmsProvider(t, enc)
	// The rules kube-apiserver applies to a KMS v2 provider.
	if k.APIVersion != "v2" {
		t.Errorf("kms apiVersion = %q, want v2", k.APIVersion)
	}
	if k.Name == "" || strings.Contains(k.Name, ":") {
		t.Errorf("kms name %q: want a non-empty name without a colon", k.Name)
	}
	if k.CacheSize != nil {
		t.Error("kms cachesize is set; KMS v2 refuses it")
	}
	if k.Timeout == nil || k.Timeout.Duration <= 0 {
		t.Error("kms timeout is not a positive duration")
	}
	u, err := url.Parse(k.Endpoint)
	if err != nil || u.Scheme != "unix" || u.Host != "" || !path.IsAbs(u.Path) {
		t.Errorf("kms endpoint %q: want unix:///absolute/path", k.Endpoint)
	}
}

func TestKMSPluginPod(t *testing.T) {
	t.Parallel()
	enc, pod := loadKMS(t)
	endpoint := kmsProvider(t, enc).Endpoint
	socket := strings.TrimPrefix(endpoint, "unix://")
	if pod.Namespace != "kube-system" {
		t.Errorf("the plugin's static pod is in namespace %q, want kube-system", pod.Namespace)
	}
	if pod.Spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q, want system-node-critical: the API server depends on the plugin", pod.Spec.PriorityClassName)
	}
	if pod.Spec.ServiceAccountName != "" || pod.Spec.AutomountServiceAccountToken != nil && *pod.Spec.AutomountServiceAccountToken {
		t.Error("a static pod cannot use a service account")
	}
	volumes := make(map[string]*corev1.Volume)
	for i, v := range pod.Spec.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %q is not a hostPath: a static pod cannot read Secrets or ConfigMaps", v.Name)
			continue
		}
		if v.HostPath.Type == nil {
			t.Errorf("hostPath volume %q has no type", v.Name)
		}
		volumes[v.Name] = &pod.Spec.Volumes[i]
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("the pod has %d containers and %d init containers, want one container", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	c := &pod.Spec.Containers[0]
	cmd, args := cofferArgs(c)
	if cmd != "kms-plugin" {
		t.Fatalf("the container runs coffer %q, want kms-plugin", cmd)
	}
	if ref := c.Image[strings.LastIndex(c.Image, "/")+1:]; !strings.Contains(ref, ":") || strings.HasSuffix(ref, ":latest") {
		t.Errorf("image %q has no fixed tag", c.Image)
	}
	if listen, _ := flagValue(args, "listen"); listen != endpoint {
		t.Errorf("-listen = %q, want the EncryptionConfiguration's endpoint %q", listen, endpoint)
	}
	if key, _ := flagValue(args, "transit-key"); key == "" {
		t.Error("no -transit-key")
	}
	for _, f := range []string{"token", "token-file"} {
		if _, ok := flagValue(args, f); ok {
			t.Errorf("-%s is set: the static pod logs in with the agent configuration's auto_auth", f)
		}
	}

	// hostFile resolves a path in the container to the node's file.
	hostFile := func(what, p string, writable bool) (string, bool) {
		f, ok := resolve(c, p)
		if !ok || volumes[f.volume] == nil {
			t.Errorf("%s %s is on no hostPath volume the container mounts", what, p)
			return "", false
		}
		if writable == f.ro {
			t.Errorf("%s %s: its volume %q is mounted read-only=%v, want %v", what, p, f.volume, f.ro, !writable)
		}
		return path.Join(volumes[f.volume].HostPath.Path, f.rel), true
	}
	if host, ok := hostFile("the socket", socket, true); ok && host != socket {
		// kube-apiserver, in its own static pod, mounts the same host
		// directory at the same path.
		t.Errorf("the socket is %s on the node but the endpoint says %s: the API server would not find it", host, socket)
	}
	cfgPath, ok := flagValue(args, "config")
	if !ok {
		t.Fatal("no -config: the plugin's agent configuration")
	}
	host, ok := hostFile("the agent configuration", cfgPath, false)
	if !ok {
		return
	}
	local, ok := kmsFiles()[host]
	if !ok {
		t.Fatalf("the node file %s has no copy in %s", host, kmsDir)
	}
	src, err := os.ReadFile(filepath.Join(kmsDir, local))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := agentconfig.Parse(src, local)
	if err != nil {
		t.Fatalf("%s: %v", local, err)
	}
	if cfg.AutoAuth == nil {
		t.Fatalf("%s has no auto_auth block", local)
	}
	if u, err := url.Parse(cfg.Vault.Address); err != nil || u.Scheme != "https" {
		t.Errorf("%s: vault address %q is not https", local, cfg.Vault.Address)
	}
	if cfg.Vault.TLSSkipVerify {
		t.Errorf("%s skips TLS verification", local)
	}
	files := []string{cfg.Vault.CACert}
	if a := cfg.AutoAuth.Method.AppRole; a != nil {
		files = append(files, a.RoleIDFile, a.SecretIDFile)
	}
	if tf := cfg.AutoAuth.Method.TokenFile; tf != nil {
		files = append(files, tf.Path)
	}
	if k := cfg.AutoAuth.Method.Kubernetes; k != nil {
		t.Errorf("%s logs in with a service account token: a static pod has none", local)
	}
	for _, f := range files {
		if f != "" {
			hostFile("the file "+local+" names", f, false)
		}
	}
	if len(cfg.AutoAuth.Sinks) > 0 || len(cfg.Templates) > 0 || cfg.Exec != nil || len(cfg.Listeners) > 0 {
		t.Errorf("%s has blocks the plugin ignores (sinks, templates, exec, listeners)", local)
	}

	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || sc.Privileged != nil && *sc.Privileged {
		t.Error("the container's securityContext must forbid privilege escalation, drop ALL capabilities and make the root file system read-only")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	lp := c.LivenessProbe
	if lp == nil || lp.Exec == nil {
		t.Fatal("no exec liveness probe")
	}
	pcmd, pargs := cofferArgs(&corev1.Container{Command: lp.Exec.Command})
	if v, _ := flagValue(pargs, "listen"); pcmd != "kms-plugin" || !slices.Contains(pargs, "-probe") || v != endpoint {
		t.Errorf("liveness probe %q: want coffer kms-plugin -probe -listen=%s", lp.Exec.Command, endpoint)
	}
	if lp.TimeoutSeconds < 10 {
		t.Errorf("liveness probe timeout %ds is shorter than the probe's own 10s", lp.TimeoutSeconds)
	}

	// The real command line parses the container's and the probe's
	// flags: -h after them stops before anything runs.
	for _, argv := range [][]string{append([]string{cmd}, args...), append([]string{pcmd}, pargs...)} {
		var stderr bytes.Buffer
		code := cli.Run(context.Background(), append(slices.Clone(argv), "-h"), cli.Env{
			Stdin: strings.NewReader(""), Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
		if code != 0 {
			t.Errorf("coffer %q does not parse: %s", argv, stderr.String())
		}
	}
}

// TestKMSAgentKeepsCredentialFiles checks, with the agent's own loader,
// that the plugin's auto_auth method never removes the file it logs in
// with. The pod mounts /etc/coffer/kms read-only, so a removal fails
// every login; on a writable mount the first login would delete the
// credential from the node and a restarted plugin could never log in
// again. AppRole and JWT remove their file by default.
func TestKMSAgentKeepsCredentialFiles(t *testing.T) {
	t.Parallel()
	cfg, err := agentconfig.Load(filepath.Join(kmsDir, "agent.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AutoAuth == nil {
		t.Fatal("agent.hcl has no auto_auth block")
	}
	m := cfg.AutoAuth.Method
	if m.AppRole == nil && m.JWT == nil && m.TokenFile == nil {
		t.Fatalf("agent.hcl logs in with method %q; the guide sets up approle", m.Type)
	}
	if m.AppRole != nil && m.AppRole.SecretIDFile != "" && m.AppRole.RemoveSecretIDFile {
		t.Errorf("agent.hcl: approle removes %s after reading it; set remove_secret_id_file_after_reading = false", m.AppRole.SecretIDFile)
	}
	if m.JWT != nil && m.JWT.RemoveJWTAfterReading {
		t.Errorf("agent.hcl: jwt removes %s after reading it; set remove_jwt_after_reading = false", m.JWT.Path)
	}
}

func TestNoSecretsInKMSFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(kmsDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if why := secretLike(string(data)); why != "" {
			t.Errorf("%s holds what looks like %s", f, why)
		}
		if !strings.HasSuffix(f, ".yaml") {
			continue
		}
		for i, doc := range splitDocuments(data) {
			var generic any
			if err := yaml.Unmarshal(doc, &generic); err != nil {
				t.Errorf("%s#%d: %v", f, i+1, err)
			}
		}
	}
}

// TestGuideNamesKMSFiles checks that the guide names every file of kmsDir.
func TestGuideNamesKMSFiles(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(kmsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !bytes.Contains(md, []byte("deploy/kubernetes/"+kmsDir+"/"+f.Name())) {
			t.Errorf("%s never mentions deploy/kubernetes/%s/%s", guidePath, kmsDir, f.Name())
		}
	}
}
