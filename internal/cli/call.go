package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// defaultAddress is where the client looks for a server when neither a flag
// nor the environment names one, as the vault binary does.
const defaultAddress = "https://127.0.0.1:8200"

// tokenFile is the name, under $HOME, of the file `coffer login` writes and
// every command reads when the environment holds no token.
const tokenFile = ".coffer-token"

// call is one invocation of a command: its environment and the values of the
// flags every server command shares.
type call struct {
	env  Env
	name string

	address    string
	caCert     string
	caPath     string
	skipVerify bool
	format     string
	field      string
	// csv says the command accepts -format=csv.
	csv bool
	// sarif says the command accepts -format=sarif.
	sarif bool
}

// registerServerFlags adds the HTTP and output flags to fs.
func (c *call) registerServerFlags(fs *flag.FlagSet, field bool) {
	fs.StringVar(&c.address, "address", "", "Address of the server; overrides COFFER_ADDR and VAULT_ADDR.")
	fs.StringVar(&c.caCert, "ca-cert", "", "Path to a PEM-encoded CA certificate to verify the server's certificate; overrides COFFER_CACERT and VAULT_CACERT.")
	fs.StringVar(&c.caPath, "ca-path", "", "Path to a directory of PEM-encoded CA certificates; overrides COFFER_CAPATH and VAULT_CAPATH.")
	fs.BoolVar(&c.skipVerify, "tls-skip-verify", false, "Do not verify the server's TLS certificate. Insecure.")
	format := c.firstEnv("COFFER_FORMAT", "VAULT_FORMAT")
	if format == "" {
		format = "table"
	}
	desc := `Output format: "table" or "json".`
	if c.sarif {
		desc = `Output format: "table", "json" or "sarif".`
	}
	fs.StringVar(&c.format, "format", format, desc)
	if field {
		fs.StringVar(&c.field, "field", "", "Print only the field with this name, with no decoration.")
	}
}

// validateFormat checks the -format value.
func (c *call) validateFormat() error {
	c.format = strings.ToLower(c.format)
	switch c.format {
	case "table", "json":
		return nil
	case "csv":
		if c.csv {
			return nil
		}
	case "sarif":
		if c.sarif {
			return nil
		}
	}
	if c.sarif {
		return fmt.Errorf("invalid output format %q (valid formats are \"table\", \"json\" and \"sarif\")", c.format)
	}
	return fmt.Errorf("invalid output format %q (valid formats are \"table\" and \"json\")", c.format)
}

// firstEnv returns the first non-empty value among the named variables.
func (c *call) firstEnv(names ...string) string {
	for _, n := range names {
		if v := c.env.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// client builds an API client from the flags and the environment. It reads
// the environment only through Env.Getenv: the vault/api package's own
// environment handling reads the real process environment, so every value
// it may have picked up is overwritten here.
func (c *call) client() (*api.Client, error) {
	addr := c.address
	if addr == "" {
		addr = c.firstEnv("COFFER_ADDR", "VAULT_ADDR")
	}
	if addr == "" {
		addr = defaultAddress
	}

	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	cfg := &api.Config{
		Address: addr,
		HttpClient: &http.Client{
			Transport: transport,
			// The API client follows redirects itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:      60 * time.Second,
		MinRetryWait: time.Second,
		MaxRetryWait: 1500 * time.Millisecond,
		MaxRetries:   2,
	}
	if v := c.firstEnv("COFFER_MAX_RETRIES", "VAULT_MAX_RETRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("parse max retries %q: want a non-negative integer", v)
		}
		cfg.MaxRetries = n
	}

	skip := c.skipVerify
	if v := c.firstEnv("COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY"); v != "" && !skip {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("parse skip verify %q: %w", v, err)
		}
		skip = b
	}
	caCert := c.caCert
	if caCert == "" {
		caCert = c.firstEnv("COFFER_CACERT", "VAULT_CACERT")
	}
	caPath := c.caPath
	if caPath == "" {
		caPath = c.firstEnv("COFFER_CAPATH", "VAULT_CAPATH")
	}
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caCert, CAPath: caPath, Insecure: skip}); err != nil {
		return nil, fmt.Errorf("configure tls: %w", err)
	}

	cl, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	cl.ClearNamespace()
	token, err := c.token()
	if err != nil {
		return nil, err
	}
	if token == "" {
		cl.ClearToken()
	} else {
		cl.SetToken(token)
	}
	return cl, nil
}

// token resolves the client token: COFFER_TOKEN, then VAULT_TOKEN, then the
// token file under $HOME. A missing file is no token, not an error.
func (c *call) token() (string, error) {
	if t := c.firstEnv("COFFER_TOKEN", "VAULT_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	path := c.tokenPath()
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tokenPath is the token file's path, or "" when HOME is not set.
func (c *call) tokenPath() string {
	home := c.env.Getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, tokenFile)
}

// newClient builds the client or reports why it cannot; ok is false when the
// command must stop with exitServer.
func (c *call) newClient() (*api.Client, bool) {
	cl, err := c.client()
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error initializing client: %v\n", err)
		return nil, false
	}
	return cl, true
}

// argsClient checks that the command got exactly want arguments and builds
// the client. A nil client means the command must stop with the returned
// exit code (the usage or client error is printed).
func (c *call) argsClient(args []string, want int) (*api.Client, int) {
	switch {
	case len(args) != want && want == 0:
		return nil, c.usageError("Too many arguments (expected 0, got %d)", len(args))
	case len(args) != want:
		return nil, c.usageError("Wrong number of arguments (expected %d, got %d)", want, len(args))
	}
	cl, ok := c.newClient()
	if !ok {
		return nil, exitServer
	}
	return cl, exitOK
}

// usageError prints msg and the command's usage hint and returns exitUsage.
func (c *call) usageError(format string, args ...any) int {
	fmt.Fprintf(c.env.Stderr, format+"\n", args...)
	fmt.Fprintf(c.env.Stderr, "Run \"coffer %s -h\" for usage.\n", c.name)
	return exitUsage
}

// serverError prints the error of a failed request (the server's own
// messages, which carry no secret values) and returns exitServer.
func (c *call) serverError(action, path string, err error) int {
	fmt.Fprintf(c.env.Stderr, "Error %s %s: %v\n", action, path, err)
	return exitServer
}

// notFound reports that path holds nothing and returns exitServer.
func (c *call) notFound(path string) int {
	fmt.Fprintf(c.env.Stderr, "No value found at %s\n", path)
	return exitServer
}

// warnings prints the response's warnings on stderr.
func (c *call) warnings(ws []string) {
	if len(ws) == 0 {
		return
	}
	fmt.Fprintln(c.env.Stderr, "WARNING! The following warnings were returned from the server:")
	for _, w := range ws {
		fmt.Fprintf(c.env.Stderr, "\n  * %s\n", w)
	}
	fmt.Fprintln(c.env.Stderr)
}

// responseStatus returns the HTTP status of a failed API request, or 0.
func responseStatus(err error) int {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return re.StatusCode
	}
	return 0
}

// sanitizePath trims spaces and leading slashes from a user-supplied path.
func sanitizePath(p string) string {
	return strings.TrimLeft(strings.TrimSpace(p), "/")
}

// ensureTrailingSlash returns p ending in exactly one slash, or "" for "".
func ensureTrailingSlash(p string) string {
	if p == "" {
		return ""
	}
	return strings.TrimRight(p, "/") + "/"
}
