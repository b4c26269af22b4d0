package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/hashicorp/vault/api"
)

// Method is an auto-auth method. Login logs in with client (which carries
// no token) and returns the server's response, whose Auth holds the new
// token, its TTL and whether it is renewable. Login may be called again at
// any time, from one goroutine at a time. Errors must not hold secrets.
type Method interface {
	Login(ctx context.Context, client *api.Client) (*api.Secret, error)
}

// NewMethod builds the Method that m configures.
func NewMethod(m config.Method) (Method, error) {
	mount := strings.Trim(m.MountPath, "/")
	switch {
	case m.AppRole != nil:
		return &AppRole{MountPath: mount, RoleIDFile: m.AppRole.RoleIDFile, SecretIDFile: m.AppRole.SecretIDFile, RemoveSecretIDFile: m.AppRole.RemoveSecretIDFile}, nil
	case m.TokenFile != nil:
		return &TokenFile{Path: m.TokenFile.Path}, nil
	case m.JWT != nil:
		return &JWT{MountPath: mount, Role: m.JWT.Role, Path: m.JWT.Path,
			RemoveAfterReading: m.JWT.RemoveJWTAfterReading, FollowSymlinks: m.JWT.RemoveJWTFollowsSymlinks}, nil
	case m.Kubernetes != nil:
		return &Kubernetes{MountPath: mount, Role: m.Kubernetes.Role, TokenPath: m.Kubernetes.TokenPath}, nil
	}
	return nil, fmt.Errorf("auth method %q is not supported", m.Type)
}

// AppRole logs in at MountPath/login with a role ID and a secret ID read
// from files. With RemoveSecretIDFile the secret ID file is deleted after
// it is read and the secret ID is kept in memory for later logins.
type AppRole struct {
	MountPath          string
	RoleIDFile         string
	SecretIDFile       string
	RemoveSecretIDFile bool

	mu       sync.Mutex
	secretID string // guarded by mu; the last secret ID read from the file
}

// Login implements [Method].
func (a *AppRole) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	roleID, err := readTrimmed(a.RoleIDFile)
	if err != nil {
		return nil, fmt.Errorf("approle: read role ID file: %w", err)
	}
	if roleID == "" {
		return nil, fmt.Errorf("approle: role ID file %s is empty", a.RoleIDFile)
	}
	body := map[string]any{"role_id": roleID}
	if a.SecretIDFile != "" {
		sid, err := a.readSecretID()
		if err != nil {
			return nil, err
		}
		body["secret_id"] = sid
	}
	sec, err := client.Logical().WriteWithContext(ctx, a.MountPath+"/login", body)
	if err != nil {
		return nil, fmt.Errorf("approle login at %s: %w", a.MountPath, err)
	}
	return sec, nil
}

func (a *AppRole) readSecretID() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sid, err := readTrimmed(a.SecretIDFile)
	switch {
	case errors.Is(err, os.ErrNotExist) && a.secretID != "":
		return a.secretID, nil
	case err != nil:
		return "", fmt.Errorf("approle: read secret ID file: %w", err)
	}
	a.secretID = sid
	if a.RemoveSecretIDFile {
		if err := os.Remove(a.SecretIDFile); err != nil {
			return "", fmt.Errorf("approle: remove secret ID file: %w", err)
		}
	}
	return sid, nil
}

// TokenFile uses a token read from a file. Login looks the token up to
// learn its TTL; the file is read again at every login, so a token
// replaced in the file is picked up when the old one fails.
type TokenFile struct {
	Path string
}

// Login implements [Method].
func (tf *TokenFile) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := readTrimmed(tf.Path)
	if err != nil {
		return nil, fmt.Errorf("token_file: read token file: %w", err)
	}
	if tok == "" {
		return nil, fmt.Errorf("token_file: %s is empty", tf.Path)
	}
	c, err := client.Clone()
	if err != nil {
		return nil, fmt.Errorf("token_file: %w", err)
	}
	c.SetToken(tok)
	sec, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("token_file: look up token: %w", err)
	}
	ttl, _ := sec.TokenTTL()
	renewable, _ := sec.TokenIsRenewable()
	return &api.Secret{Auth: &api.SecretAuth{ClientToken: tok, LeaseDuration: int(ttl.Seconds()), Renewable: renewable}}, nil
}

// maxJWTFileBytes bounds a JWT or service account token file; the server
// refuses longer tokens anyway.
const maxJWTFileBytes = 64 << 10

// JWT logs in at MountPath/login of a jwt auth method with Role and the
// JSON web token in the file at Path. The file is read at every login, so
// a token rotated in the file (a new one before the old expires) is the
// one sent.
//
// With RemoveAfterReading the file is deleted once read and the token kept
// in memory: later logins use it until a new file appears. The symbolic
// link at Path is deleted, or with FollowSymlinks the file it points to.
type JWT struct {
	MountPath          string
	Role               string
	Path               string
	RemoveAfterReading bool
	FollowSymlinks     bool

	mu  sync.Mutex
	jwt string // guarded by mu; with RemoveAfterReading, the last token read
}

// Login implements [Method].
func (j *JWT) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := j.token()
	if err != nil {
		return nil, err
	}
	return loginJWT(ctx, client, config.MethodJWT, j.MountPath, j.Role, tok)
}

// token reads the file, or returns the kept token when the file was
// removed after an earlier read.
func (j *JWT) token() (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	tok, err := readJWTFile(j.Path)
	switch {
	case errors.Is(err, os.ErrNotExist) && j.RemoveAfterReading && j.jwt != "":
		return j.jwt, nil
	case err != nil:
		return "", fmt.Errorf("jwt: %w", err)
	}
	if !j.RemoveAfterReading {
		return tok, nil
	}
	j.jwt = tok
	target := j.Path
	if j.FollowSymlinks {
		if target, err = filepath.EvalSymlinks(j.Path); err != nil {
			return "", fmt.Errorf("jwt: remove token file (remove_jwt_after_reading): %w", err)
		}
	}
	if err := os.Remove(target); err != nil {
		return "", fmt.Errorf("jwt: remove token file (remove_jwt_after_reading): %w", err)
	}
	return tok, nil
}

// Kubernetes logs in at MountPath/login of a kubernetes auth method with
// Role and the pod's service account token in the file at TokenPath. The
// file is read at every login and never cached: the kubelet rewrites a
// projected token before it expires, and the server's TokenReview refuses
// the old one.
type Kubernetes struct {
	MountPath string
	Role      string
	TokenPath string
}

// Login implements [Method].
func (k *Kubernetes) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := readJWTFile(k.TokenPath)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return loginJWT(ctx, client, config.MethodKubernetes, k.MountPath, k.Role, tok)
}

// loginJWT sends {role, jwt} to mount/login, as the jwt and kubernetes
// auth methods take them. Errors name the method and mount, never jwt.
func loginJWT(ctx context.Context, client *api.Client, method, mount, role, jwt string) (*api.Secret, error) {
	sec, err := client.Logical().WriteWithContext(ctx, mount+"/login", map[string]any{"role": role, "jwt": jwt})
	if err != nil {
		return nil, fmt.Errorf("%s login at %s: %w", method, mount, err)
	}
	return sec, nil
}

// readJWTFile reads a token file, trimmed of surrounding white space. An
// empty or oversized file is an error; errors name the file only.
func readJWTFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWTFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	if len(b) > maxJWTFileBytes {
		return "", fmt.Errorf("token file %s is larger than %d bytes", path, maxJWTFileBytes)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
