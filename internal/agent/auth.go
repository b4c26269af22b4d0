package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
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
		return &JWT{MountPath: mount, Role: m.JWT.Role, Path: m.JWT.Path}, nil
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

// JWT logs in at MountPath/login with a role and a JSON web token read
// from a file, as the jwt and kubernetes auth methods take them. The file
// is read at every login, so rotated tokens are used.
type JWT struct {
	MountPath string
	Role      string
	Path      string
}

// Login implements [Method].
func (j *JWT) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	jwt, err := readTrimmed(j.Path)
	if err != nil {
		return nil, fmt.Errorf("jwt: read token file: %w", err)
	}
	sec, err := client.Logical().WriteWithContext(ctx, j.MountPath+"/login", map[string]any{"role": j.Role, "jwt": jwt})
	if err != nil {
		return nil, fmt.Errorf("jwt login at %s: %w", j.MountPath, err)
	}
	return sec, nil
}

func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
