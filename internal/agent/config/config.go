package config

import (
	"os"
	"syscall"
	"time"
)

// Config is one agent configuration file, decoded and validated.
type Config struct {
	// Vault says how to reach the server.
	Vault Vault
	// AutoAuth, when set, makes the agent log in by itself and keep its
	// token alive; without it the agent uses VAULT_TOKEN or COFFER_TOKEN.
	AutoAuth *AutoAuth
	// Templates are rendered to files.
	Templates []Template
	// TemplateConfig holds the settings shared by all templates.
	TemplateConfig TemplateConfig
	// Listeners serve the API proxy.
	Listeners []Listener
	// APIProxy says how the listeners forward requests.
	APIProxy APIProxy
	// Exec, when set, runs a child process with EnvTemplates in its
	// environment.
	Exec *Exec
	// EnvTemplates are rendered to environment variables of the Exec child.
	EnvTemplates []EnvTemplate
	// PidFile, when set, receives the agent's process ID.
	PidFile string
	// ExitAfterAuth makes the agent stop once it has authenticated, written
	// its sinks and rendered its templates once.
	ExitAfterAuth bool
}

// Vault is the server connection.
type Vault struct {
	// Address is the server's URL; empty means VAULT_ADDR or COFFER_ADDR.
	Address string
	// CACert is a PEM file of CA certificates to verify the server with.
	CACert string
	// TLSSkipVerify disables verification of the server's certificate.
	TLSSkipVerify bool
	// NumRetries is how often a failed request is retried by the client
	// (retry { num_retries }); default 12 as in Vault Agent, -1 for none.
	NumRetries int
}

// AutoAuth is the auto_auth block.
type AutoAuth struct {
	// Method is how the agent logs in.
	Method Method
	// Sinks receive every new token.
	Sinks []Sink
}

// Method types.
const (
	MethodAppRole    = "approle"
	MethodTokenFile  = "token_file"
	MethodJWT        = "jwt"
	MethodKubernetes = "kubernetes"
)

// Method is one auto_auth method block. Exactly one of the typed configs
// matching Type is set.
type Method struct {
	// Type is one of the Method* constants.
	Type string
	// MountPath is where the auth method is mounted, such as
	// "auth/approle" (default "auth/" + Type).
	MountPath string
	// WrapTTL, when set, asks the server to wrap the login response.
	WrapTTL time.Duration
	// AppRole is set for "approle".
	AppRole *AppRole
	// TokenFile is set for "token_file".
	TokenFile *TokenFile
	// JWT is set for "jwt".
	JWT *JWT
	// Kubernetes is set for "kubernetes".
	Kubernetes *Kubernetes
}

// AppRole is the config of an approle method.
type AppRole struct {
	// RoleIDFile holds the role ID.
	RoleIDFile string
	// SecretIDFile holds the secret ID; empty for roles that do not bind
	// one.
	SecretIDFile string
	// RemoveSecretIDFile (remove_secret_id_file_after_reading) deletes
	// the secret ID file after reading it. Default true, as in Vault
	// Agent; the secret ID read is kept in memory for later logins.
	RemoveSecretIDFile bool
}

// TokenFile is the config of a token_file method.
type TokenFile struct {
	// Path holds a token.
	Path string
}

// JWT is the config of a jwt method: config = { role, path }.
type JWT struct {
	// Role is the role to log in as (required).
	Role string
	// Path is the file holding the JSON web token (required). It is read
	// at every login, so a token rotated in the file is used.
	Path string
	// RemoveJWTAfterReading deletes the file once it is read; the token
	// is then kept in memory and used until a new file appears. The
	// default is true, as in Vault Agent; set remove_jwt_after_reading =
	// false to keep the file (and read it again at each login).
	RemoveJWTAfterReading bool
	// RemoveJWTFollowsSymlinks makes the removal delete the file a
	// symbolic link at Path points to, rather than the link. The default
	// is false: a link at Path is removed and the file it names is left
	// alone, so the agent never deletes a file outside Path unless asked.
	RemoveJWTFollowsSymlinks bool
}

// DefaultServiceAccountTokenPath is where Kubernetes mounts a pod's
// service account token, the kubernetes method's default token_path.
const DefaultServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Kubernetes is the config of a kubernetes method: config = { role,
// token_path }.
type Kubernetes struct {
	// Role is the role to log in as (required).
	Role string
	// TokenPath is the service account token file (default
	// [DefaultServiceAccountTokenPath]). It is read at every login: the
	// kubelet rewrites projected tokens before they expire.
	TokenPath string
}

// Sink is one auto_auth sink "file" block.
type Sink struct {
	// Path is the file that receives the token.
	Path string
	// Mode is the file's permission bits (default 0640, as Vault Agent).
	Mode os.FileMode
	// WrapTTL, when set, makes the sink hold a response-wrapped token: the
	// JSON wrap info whose token unwraps to the agent's token.
	WrapTTL time.Duration
}

// Template is one template block. Exactly one of Source and Contents is
// set.
type Template struct {
	// Source is the template file.
	Source string
	// Contents is the template text itself.
	Contents string
	// Destination is the rendered file.
	Destination string
	// CreateDestDirs creates the missing parent directories of
	// Destination (mode 0755 before the umask) before writing it; the
	// default is true, as in Vault Agent.
	CreateDestDirs bool
	// Perms are the rendered file's permission bits (default 0644).
	Perms os.FileMode
	// Command is run after each change of the file; one element means
	// "/bin/sh -c" with it, more are the program and its arguments.
	Command []string
	// ErrorOnMissingKey fails the render when a key is missing.
	ErrorOnMissingKey bool
	// LeftDelim and RightDelim default to "{{" and "}}".
	LeftDelim, RightDelim string
	// Line is where the block starts, for messages.
	Line int
}

// Name is how the template is named in messages and errors: its source
// file, or the destination for inline contents.
func (t Template) Name() string {
	if t.Source != "" {
		return t.Source
	}
	return t.Destination
}

// TemplateConfig is the template_config block.
type TemplateConfig struct {
	// StaticSecretRenderInterval is how often secrets without a lease are
	// read again (default 5m).
	StaticSecretRenderInterval time.Duration
	// ExitOnRetryFailure stops the agent when a template cannot be
	// rendered after its retries, instead of waiting.
	ExitOnRetryFailure bool
	// UseEvents (use_events, default true) makes the agent subscribe to
	// the server's kv-v2 events and read a KV secret again as soon as it
	// changes, instead of waiting for StaticSecretRenderInterval; the
	// interval stays as the fallback when events are unavailable.
	UseEvents bool
}

// Listener is a listener block for the API proxy.
type Listener struct {
	// Type is "tcp" or "unix".
	Type string
	// Address is host:port, or the socket path.
	Address string
	// TLSDisable must be true: TLS listeners are not supported yet.
	TLSDisable bool
}

// APIProxy is the api_proxy block.
type APIProxy struct {
	// UseAutoAuthToken adds the agent's token to proxied requests that
	// carry none.
	UseAutoAuthToken bool
}

// Restart policies of the exec child.
const (
	RestartAlways = "always"
	RestartNever  = "never"
)

// Exec is the exec block.
type Exec struct {
	// Command is the program and its arguments.
	Command []string
	// RestartOnSecretChanges is RestartAlways (default) or RestartNever.
	RestartOnSecretChanges string
	// RestartStopSignal is sent to stop the child before a restart
	// (default SIGTERM).
	RestartStopSignal syscall.Signal
}

// EnvTemplate is one env_template block: a variable of the exec child.
type EnvTemplate struct {
	// Name is the variable name.
	Name string
	// Contents is the template text.
	Contents string
	// ErrorOnMissingKey fails the render when a key is missing.
	ErrorOnMissingKey bool
	// LeftDelim and RightDelim default to "{{" and "}}".
	LeftDelim, RightDelim string
}
