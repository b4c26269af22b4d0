package csi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The attribute names the driver and the SecretProviderClass use, in the
// shapes Vault's provider documents.
const (
	attrRole          = "roleName"
	attrAddress       = "vaultAddress"
	attrMount         = "vaultKubernetesMountPath"
	attrAuthMount     = "vaultAuthMountPath" // the newer name of the same setting
	attrNamespace     = "vaultNamespace"
	attrObjects       = "objects"
	attrAudience      = "audience"
	attrPodName       = "csi.storage.k8s.io/pod.name"
	attrPodNamespace  = "csi.storage.k8s.io/pod.namespace"
	attrPodSA         = "csi.storage.k8s.io/serviceAccount.name"
	attrPodTokens     = "csi.storage.k8s.io/serviceAccount.tokens"
	defaultAuthMount  = "kubernetes"
	maxAttributesSize = 1 << 20
)

// Limits on one Mount. The driver's default gRPC receive limit is 4 MiB, and
// a synced Kubernetes Secret holds at most 1 MiB; the limits keep a response
// well inside the first and each file inside the second.
const (
	// MaxObjects is the most objects one SecretProviderClass may list.
	MaxObjects = 100
	// MaxFileSize is the largest file content, in bytes.
	MaxFileSize = 1 << 20
	// MaxTotalSize is the largest sum of file contents of one Mount, in
	// bytes.
	MaxTotalSize = 3 << 20
)

// mountParams are a Mount request's parameters, checked. They hold the
// service account token: never log or print them whole.
type mountParams struct {
	role      string
	address   string // "" when the SecretProviderClass names none
	authMount string // "" for the provider's default
	audience  string
	objects   []object

	podName, podNamespace, serviceAccount string

	token saToken
}

// saToken is a service account token the driver passed. It prints as a
// placeholder.
type saToken string

func (saToken) String() string { return "[token]" }

// LogValue implements slog.LogValuer.
func (saToken) LogValue() slog.Value { return slog.StringValue("[token]") }

// object is one entry of the SecretProviderClass's objects list.
type object struct {
	name     string
	path     string
	key      string
	args     map[string]any
	method   string       // GET, PUT or POST
	mode     *fs.FileMode // nil: the request's permission
	encoding string       // "", "base64" or "hex"
}

// paramError is a SecretProviderClass or driver request that cannot be
// used. Its message names the parameter and never holds a token; code is
// the Mount error code when it is not CodeInvalidParameters.
type paramError struct{ code, msg string }

func (e *paramError) Error() string { return e.msg }

func paramErrorf(format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf(format, args...)}
}

// parseAttributes reads a MountRequest's attributes: a JSON object of
// strings, the SecretProviderClass's parameters merged with the pod's
// information. now decides whether the service account token has expired.
// Errors are *paramError.
func parseAttributes(attributes string, now time.Time) (*mountParams, error) {
	if len(attributes) > maxAttributesSize {
		return nil, paramErrorf("attributes are %d bytes, more than the %d allowed", len(attributes), maxAttributesSize)
	}
	var attrs map[string]string
	dec := json.NewDecoder(strings.NewReader(attributes))
	if err := dec.Decode(&attrs); err != nil {
		return nil, paramErrorf("attributes are not a JSON object of strings: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, paramErrorf("attributes are not a JSON object of strings: data after the object")
	}
	p := &mountParams{
		role:           strings.TrimSpace(attrs[attrRole]),
		address:        strings.TrimSpace(attrs[attrAddress]),
		audience:       attrs[attrAudience],
		podName:        attrs[attrPodName],
		podNamespace:   attrs[attrPodNamespace],
		serviceAccount: attrs[attrPodSA],
	}
	if p.role == "" {
		return nil, paramErrorf("parameter %s is required: the Coffer kubernetes auth role to log in with", attrRole)
	}
	if ns := strings.TrimSpace(attrs[attrNamespace]); ns != "" {
		return nil, paramErrorf("parameter %s is set, but Coffer has no namespaces: remove it", attrNamespace)
	}
	mount := strings.TrimSpace(attrs[attrAuthMount])
	if m := strings.TrimSpace(attrs[attrMount]); m != "" {
		if mount != "" && strings.Trim(mount, "/") != strings.Trim(m, "/") {
			return nil, paramErrorf("parameters %s and %s name different mounts", attrMount, attrAuthMount)
		}
		mount = m
	}
	if mount != "" {
		m, err := cleanMount(mount)
		if err != nil {
			return nil, err
		}
		p.authMount = m
	}
	objs, err := parseObjects(attrs[attrObjects])
	if err != nil {
		return nil, err
	}
	p.objects = objs
	tok, err := pickToken(attrs[attrPodTokens], p.audience, now)
	if err != nil {
		return nil, err
	}
	p.token = tok
	return p, nil
}

func tokenErrorf(format string, args ...any) error {
	return &paramError{code: CodeMissingToken, msg: fmt.Sprintf(format, args...)}
}

// jsonProblem describes a JSON decoding error without quoting the input
// (which may hold a token).
func jsonProblem(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field != "" {
			return fmt.Sprintf("%s is a JSON %s, want a string", te.Field, te.Value)
		}
		return fmt.Sprintf("a JSON %s where a %s was expected", te.Value, te.Type)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "empty or cut short"
	}
	return "malformed"
}

// cleanMount checks an auth mount path such as "kubernetes" or
// "k8s/cluster-a" and returns it without surrounding slashes, or an
// "auth/" prefix.
func cleanMount(m string) (string, error) {
	m = strings.Trim(m, "/")
	m = strings.TrimPrefix(m, "auth/")
	if m == "" {
		return "", paramErrorf("the auth mount path is empty")
	}
	if err := checkPath(m); err != nil {
		return "", paramErrorf("auth mount path %q: %v", m, err)
	}
	return m, nil
}

// checkPath accepts a relative API path of non-empty segments other than
// "." and "..", with no characters that would change a URL's meaning.
func checkPath(p string) error {
	if len(p) > 1024 {
		return errors.New("longer than 1024 bytes")
	}
	if strings.ContainsAny(p, "?#%\\") {
		return errors.New(`contains one of ? # % \`)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return errors.New("contains a control character")
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return errors.New("has an empty segment")
		case ".", "..":
			return fmt.Errorf("has a %q segment", seg)
		}
	}
	return nil
}

// tokenEntry is one value of the driver's serviceAccount.tokens map.
type tokenEntry struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// pickToken chooses the pod's service account token from the driver's
// serviceAccount.tokens attribute (a JSON object from audience to token):
// the one for audience when it is set, else the only one, else the one for
// the API server's default audience (""). An expired token is refused here
// rather than by Coffer, with a clearer message.
func pickToken(raw, audience string, now time.Time) (saToken, error) {
	if raw == "" {
		return "", &paramError{code: CodeMissingToken, msg: "the driver passed no service account token: set tokenRequests in the CSIDriver " +
			"secrets-store.csi.k8s.io (the driver's Helm value tokenRequests, with the audience the Coffer role expects)"}
	}
	var toks map[string]tokenEntry
	if err := json.Unmarshal([]byte(raw), &toks); err != nil {
		return "", tokenErrorf("attribute %s is not a JSON object of audience to token: %v", attrPodTokens, jsonProblem(err))
	}
	var (
		e  tokenEntry
		ok bool
	)
	switch {
	case audience != "":
		if e, ok = toks[audience]; !ok {
			return "", tokenErrorf("the driver passed no service account token for audience %q: add it to the CSIDriver's tokenRequests", audience)
		}
	case len(toks) == 1:
		for _, v := range toks {
			e, ok = v, true
		}
	default:
		if e, ok = toks[""]; !ok {
			return "", tokenErrorf("the driver passed %d service account tokens: set parameter %s to choose one", len(toks), attrAudience)
		}
	}
	if strings.TrimSpace(e.Token) == "" {
		return "", tokenErrorf("the driver passed an empty service account token")
	}
	if e.ExpirationTimestamp != "" {
		exp, err := time.Parse(time.RFC3339, e.ExpirationTimestamp)
		if err != nil {
			return "", tokenErrorf("the service account token's expirationTimestamp is not an RFC 3339 time")
		}
		if !exp.After(now) {
			return "", tokenErrorf("the service account token expired at %s", exp.UTC().Format(time.RFC3339))
		}
	}
	return saToken(strings.TrimSpace(e.Token)), nil
}

// yamlObject is one element of the objects parameter as written.
type yamlObject struct {
	ObjectName     string         `yaml:"objectName"`
	SecretPath     string         `yaml:"secretPath"`
	SecretKey      string         `yaml:"secretKey"`
	SecretArgs     map[string]any `yaml:"secretArgs"`
	Method         string         `yaml:"method"`
	FilePermission *yamlMode      `yaml:"filePermission"`
	Encoding       string         `yaml:"encoding"`
}

// yamlMode is a file mode written as a YAML integer (0600 and 0o600 are
// octal, 384 decimal, as YAML reads them) or as a string of octal digits
// ("0600", "600", "0o600").
type yamlMode fs.FileMode

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *yamlMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("filePermission must be a number such as 0600")
	}
	var v int64
	switch n.ShortTag() {
	case "!!int":
		if err := n.Decode(&v); err != nil {
			return errors.New("filePermission must be a number such as 0600")
		}
	case "!!str":
		s := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0O")
		u, err := strconv.ParseUint(s, 8, 32)
		if err != nil || s == "" {
			return fmt.Errorf("filePermission %q is not an octal mode such as \"0600\"", n.Value)
		}
		v = int64(u)
	default:
		return errors.New("filePermission must be a number such as 0600")
	}
	if v < 0 || v > 0o777 {
		return fmt.Errorf("filePermission %#o is outside 0 to 0777", v)
	}
	*m = yamlMode(v)
	return nil
}

// parseObjects reads the objects parameter: a YAML list (a string in the
// SecretProviderClass) of objectName, secretPath, secretKey, secretArgs,
// method, filePermission and encoding. Unknown fields are refused, so that
// a misspelt secretKey fails instead of mounting the whole secret. Errors
// are *paramError.
func parseObjects(s string) ([]object, error) {
	if strings.TrimSpace(s) == "" {
		return nil, paramErrorf("parameter %s is required: a YAML list of objectName and secretPath", attrObjects)
	}
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	var list []yamlObject
	if err := dec.Decode(&list); err != nil {
		return nil, paramErrorf("parameter %s is not a YAML list of objects: %v", attrObjects, yamlProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, paramErrorf("parameter %s holds more than one YAML document", attrObjects)
	}
	if len(list) == 0 {
		return nil, paramErrorf("parameter %s lists no objects", attrObjects)
	}
	if len(list) > MaxObjects {
		return nil, paramErrorf("parameter %s lists %d objects, more than the %d allowed", attrObjects, len(list), MaxObjects)
	}
	out := make([]object, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, y := range list {
		o, err := y.check()
		if err != nil {
			return nil, paramErrorf("objects[%d]: %v", i, err)
		}
		if seen[o.name] {
			return nil, paramErrorf("objects[%d]: objectName %q appears twice", i, o.name)
		}
		seen[o.name] = true
		out = append(out, o)
	}
	return out, nil
}

// yamlProblem shortens a YAML error to its first line, without the input.
func yamlProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if te, ok := errors.AsType[*yaml.TypeError](err); ok && len(te.Errors) > 0 {
		msg = strings.TrimPrefix(te.Errors[0], "yaml: ")
	}
	msg = strings.ReplaceAll(msg, " in type csi.yamlObject", "")
	msg = strings.ReplaceAll(msg, "[]csi.yamlObject", "a list of objects")
	msg = strings.ReplaceAll(msg, "csi.yamlObject", "an object")
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

func (y yamlObject) check() (object, error) {
	o := object{
		name:     y.ObjectName,
		path:     strings.TrimPrefix(strings.TrimPrefix(y.SecretPath, "/"), "v1/"),
		key:      y.SecretKey,
		args:     y.SecretArgs,
		method:   strings.ToUpper(strings.TrimSpace(y.Method)),
		encoding: strings.ToLower(strings.TrimSpace(y.Encoding)),
	}
	if err := checkObjectName(o.name); err != nil {
		return object{}, err
	}
	if o.path == "" {
		return object{}, fmt.Errorf("objectName %q has no secretPath", o.name)
	}
	if err := checkPath(o.path); err != nil {
		return object{}, fmt.Errorf("secretPath %q %v", o.path, err)
	}
	switch o.method {
	case "":
		o.method = "GET"
	case "GET", "PUT", "POST":
	default:
		return object{}, fmt.Errorf("method %q: want GET, PUT or POST", y.Method)
	}
	switch o.encoding {
	case "", "utf-8", "utf8":
		o.encoding = ""
	case "base64", "hex":
	default:
		return object{}, fmt.Errorf("encoding %q: want utf-8, base64 or hex", y.Encoding)
	}
	if y.FilePermission != nil {
		m := fs.FileMode(*y.FilePermission)
		o.mode = &m
	}
	for k := range o.args {
		if k == "" {
			return object{}, errors.New("secretArgs has an empty key")
		}
	}
	if _, err := jsonValue(o.args); err != nil {
		return object{}, errors.New("secretArgs must be a map of strings to JSON-like values")
	}
	return o, nil
}

// checkObjectName accepts what the driver accepts as a file path in the
// mount: relative, no ".." element, not starting with "..".
func checkObjectName(n string) error {
	if n == "" {
		return errors.New("an object has no objectName")
	}
	if len(n) > 253 {
		return fmt.Errorf("objectName %q is longer than 253 bytes", n[:32]+"...")
	}
	if strings.HasPrefix(n, "/") || strings.HasPrefix(n, "..") {
		return fmt.Errorf("objectName %q must be a relative path that does not start with \"..\" or \"/\"", n)
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("objectName %q contains a control character or backslash", n)
		}
	}
	for seg := range strings.SplitSeq(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("objectName %q has an empty, . or .. path element", n)
		}
	}
	return nil
}

// parsePermission reads the request's permission field: the driver's
// JSON-encoded os.FileMode, a decimal number.
func parsePermission(s string) (fs.FileMode, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0o644, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > 0o777 {
		return 0, paramErrorf("the request's permission %q is not a decimal file mode between 0 and 511", s)
	}
	return fs.FileMode(n), nil
}

// sameAddress reports whether two server addresses name the same server:
// scheme, host and port, ignoring a trailing slash and case.
func sameAddress(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimRight(a, "/"))
	ub, err2 := url.Parse(strings.TrimRight(b, "/"))
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(hostPort(ua), hostPort(ub)) && ua.Path == ub.Path
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Host + ":443"
	case "http":
		return u.Host + ":80"
	}
	return u.Host
}

// checkAddress accepts an http or https URL with a host and nothing else.
func checkAddress(a string) error {
	u, err := url.Parse(a)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return paramErrorf("%s %q is not an http or https address such as https://coffer.example:8200", attrAddress, a)
	}
	return nil
}

// jsonValue encodes v compactly, as the file content of a non-string value.
func jsonValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// CheckParameters checks a SecretProviderClass's parameters as Mount
// does, all but the pod's information and token, and returns the role and
// the API paths the objects read, in order. It lets manifests be checked
// without a cluster.
func CheckParameters(params map[string]string) (role string, paths []string, err error) {
	attrs := make(map[string]string, len(params)+1)
	for k, v := range params {
		attrs[k] = v
	}
	// A stand-in token, so that only the parameters are judged.
	attrs[attrPodTokens] = `{"":{"token":"stand-in"}}`
	delete(attrs, attrAudience)
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", nil, err
	}
	p, err := parseAttributes(string(b), time.Now())
	if err != nil {
		return "", nil, err
	}
	if p.address != "" {
		if err := checkAddress(p.address); err != nil {
			return "", nil, err
		}
	}
	for _, o := range p.objects {
		paths = append(paths, o.path)
	}
	return p.role, paths, nil
}
