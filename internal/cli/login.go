package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
)

// loginCommands is `coffer login`.
func loginCommands() map[string]*command {
	return map[string]*command{
		"login": {
			synopsis: "Authenticate locally",
			usage:    "[options] [TOKEN | KEY=VALUE ...]",
			help: `Authenticates with the server and stores the resulting token in
~/.coffer-token, where later commands find it when COFFER_TOKEN and
VAULT_TOKEN are unset. KEY=VALUE arguments configure the method; a value of
"@file" reads it from a file and "-" from stdin.

Methods (-method):

  token      TOKEN, or token=TOKEN; checked with auth/token/lookup-self.
             Without TOKEN, or with "-", the token is read from stdin (or
             prompted for, hidden, on a terminal).
  userpass   username=NAME [password=@FILE]; without password it is read
             from stdin (or prompted for, hidden, on a terminal). username
             defaults to $LOGNAME or $USER.
  approle    role_id=ID [secret_id=@FILE].

    $ coffer login
    $ coffer login -method=userpass username=alice
    $ coffer login -method=approle -path=apps role_id=... secret_id=@secret-id.txt`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o loginOptions
				fs.StringVar(&o.method, "method", "token", `Auth method: "token", "userpass" or "approle".`)
				fs.StringVar(&o.path, "path", "", "Mount path of the auth method, without auth/; defaults to the method name.")
				fs.BoolVar(&o.noStore, "no-store", false, "Do not store the token in the token file.")
				fs.BoolVar(&o.noPrint, "no-print", false, "Do not print the token; it is still stored.")
				fs.BoolVar(&o.tokenOnly, "token-only", false, "Print only the token; implies -no-store.")
				return func(ctx context.Context, c *call, args []string) int {
					return runLogin(ctx, c, args, &o)
				}
			},
		},
	}
}

// loginOptions are the flags of login.
type loginOptions struct {
	method    string
	path      string
	noStore   bool
	noPrint   bool
	tokenOnly bool
}

// loginMethod is how one auth method logs in.
type loginMethod struct {
	// keys are the KEY=VALUE arguments the method accepts.
	keys []string
	// login authenticates at the mount path (e.g. "userpass") with the
	// parsed arguments and returns a response with an auth block. It
	// reports its own errors and returns the exit code when secret is nil.
	login func(ctx context.Context, c *call, cl *api.Client, mount string, v map[string]string) (secret *api.Secret, code int)
}

// loginMethods are the methods `coffer login` knows, by -method name.
func loginMethods() map[string]loginMethod {
	return map[string]loginMethod{
		"token":    {keys: []string{"token"}, login: loginToken},
		"userpass": {keys: []string{"username", "password"}, login: loginUserpass},
		"approle":  {keys: []string{"role_id", "secret_id"}, login: loginAppRole},
	}
}

// Errors of login arguments.
var (
	errLoginStdin = errors.New(`read the token from stdin with "-" alone`)
)

// parseLoginArgs turns the arguments of login into the method's values.
// For the token method a first argument without "=" is the token itself
// ("-" is returned as the token "-": the caller reads it from stdin). Keys
// must be among allowed and given once; values are strings.
func parseLoginArgs(method string, allowed []string, args []string, p *dataParser) (map[string]string, error) {
	out := map[string]string{}
	if method == "token" && len(args) > 0 && !strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "@") {
		out["token"] = args[0]
		args = args[1:]
		if out["token"] == "-" && len(args) > 0 {
			return nil, errLoginStdin
		}
	}
	data, err := p.parse(args)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown key %q for this method (accepted: %s)", k, strings.Join(allowed, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %q given more than once", k)
		}
		switch v := data[k].(type) {
		case []any:
			return nil, fmt.Errorf("key %q given more than once", k)
		case map[string]any:
			return nil, fmt.Errorf("key %q must be a string", k)
		default:
			out[k] = formatValue(v)
		}
	}
	return out, nil
}

func runLogin(ctx context.Context, c *call, args []string, o *loginOptions) int {
	method, ok := loginMethods()[strings.ToLower(o.method)]
	if !ok {
		return c.usageError("Unknown auth method: %q (known methods are token, userpass and approle)", o.method)
	}
	name := strings.ToLower(o.method)
	if name == "token" && len(args) > 1 && !strings.Contains(args[0], "=") {
		return c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	values, err := parseLoginArgs(name, method.keys, args, &dataParser{stdin: c.env.Stdin, readFile: os.ReadFile})
	if err != nil {
		return c.usageError("Error parsing configuration: %v", err)
	}
	mount := sanitizePath(o.path)
	if mount == "" {
		mount = name
	}
	mount = strings.TrimRight(mount, "/")
	if o.tokenOnly {
		o.noStore = true
	}

	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, code := method.login(ctx, c, cl, mount, values)
	if secret == nil {
		return code
	}
	if secret.Auth == nil || secret.Auth.ClientToken == "" {
		fmt.Fprintln(c.env.Stderr, "Error authenticating: the response holds no token")
		return exitServer
	}
	token := secret.Auth.ClientToken

	if !o.noStore {
		if code := c.storeToken(token); code != exitOK {
			return code
		}
		for _, v := range []string{"COFFER_TOKEN", "VAULT_TOKEN"} {
			if c.env.Getenv(v) != "" {
				fmt.Fprintf(c.env.Stderr, "WARNING! %s is set: it takes precedence over the stored token until it is unset.\n\n", v)
				break
			}
		}
	}

	switch {
	case o.tokenOnly:
		return c.printField(token)
	case c.field != "":
		return c.printSecretField(secret, nil)
	case o.noPrint:
		return exitOK
	case c.format == "json":
		return c.printJSONOrFail(secret)
	}
	if o.noStore {
		fmt.Fprintln(c.env.Stderr, "The token was not stored (-no-store): set COFFER_TOKEN to it, or pass it with each request.")
		fmt.Fprintln(c.env.Stderr)
		fmt.Fprintln(c.env.Stdout, "Success! You are now authenticated.")
	} else {
		fmt.Fprintln(c.env.Stdout, "Success! You are now authenticated. The token below is stored in ~/"+tokenFile+";\nlater commands use it when COFFER_TOKEN and VAULT_TOKEN are unset.")
	}
	fmt.Fprintln(c.env.Stdout)
	return c.printSecret(secret)
}

// storeToken writes token to the token file, readable by the user only.
func (c *call) storeToken(token string) int {
	path := c.tokenPath()
	if path == "" {
		fmt.Fprintln(c.env.Stderr, "Error storing token: HOME is not set")
		return exitUsage
	}
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error storing token: %v\n", unwrapPathError(err))
		return exitUsage
	}
	// WriteFile keeps the mode of an existing file.
	if err := os.Chmod(path, 0o600); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error storing token: %v\n", unwrapPathError(err))
		return exitUsage
	}
	return exitOK
}

// loginToken checks a token with lookup-self and presents the lookup as a
// login result, as the vault binary does.
func loginToken(ctx context.Context, c *call, cl *api.Client, _ string, v map[string]string) (*api.Secret, int) {
	token := v["token"]
	if token == "" || token == "-" {
		t, err := c.readSecretLine("Token (will be hidden): ")
		if err != nil {
			return nil, c.usageError("Error reading token: %v", err)
		}
		token = t
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, c.usageError("No token given: pass it as an argument, type it at the prompt on a terminal, or send it as one line on stdin")
	}
	cl.SetToken(token)
	secret, err := cl.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, c.serverError("looking up token with", "auth/token/lookup-self", err)
	}
	if secret == nil || secret.Data == nil {
		fmt.Fprintln(c.env.Stderr, "Error looking up token: empty response from server")
		return nil, exitServer
	}
	return &api.Secret{Auth: lookupAuth(token, secret)}, exitOK
}

// lookupAuth builds an auth block from a token lookup response.
func lookupAuth(token string, lookup *api.Secret) *api.SecretAuth {
	auth := &api.SecretAuth{ClientToken: token}
	auth.Accessor, _ = lookup.TokenAccessor()
	if ttl, err := lookup.TokenTTL(); err == nil {
		auth.LeaseDuration = int(ttl.Seconds())
	}
	auth.Renewable, _ = lookup.TokenIsRenewable()
	auth.Metadata, _ = lookup.TokenMetadata()
	auth.TokenPolicies = stringList(lookup.Data["policies"])
	auth.IdentityPolicies = stringList(lookup.Data["identity_policies"])
	auth.Policies = mergePolicies(auth.TokenPolicies, auth.IdentityPolicies)
	auth.EntityID, _ = lookup.Data["entity_id"].(string)
	auth.Orphan, _ = lookup.Data["orphan"].(bool)
	return auth
}

// stringList returns the strings of a decoded JSON list; nil for anything
// else.
func stringList(v any) []string {
	raw, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, item := range raw {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// mergePolicies returns the sorted union of the lists.
func mergePolicies(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// loginUserpass logs in at auth/<mount>/login/<username>.
func loginUserpass(ctx context.Context, c *call, cl *api.Client, mount string, v map[string]string) (*api.Secret, int) {
	username := v["username"]
	if username == "" {
		username = c.firstEnv("LOGNAME", "USER")
	}
	if username == "" {
		return nil, c.usageError("username is required: give username=NAME")
	}
	password, ok := v["password"]
	if !ok {
		p, err := c.readSecretLine("Password (will be hidden): ")
		if err != nil {
			return nil, c.usageError("Error reading password: %v", err)
		}
		password = p
	}
	if password == "" {
		return nil, c.usageError("No password given: pass password=..., type it at the prompt on a terminal, or send it as one line on stdin")
	}
	path := "auth/" + mount + "/login/" + username
	cl.ClearToken()
	secret, err := cl.Logical().WriteWithContext(ctx, path, map[string]any{"password": password})
	if err != nil {
		return nil, c.serverError("authenticating at", "auth/"+mount, err)
	}
	return secret, exitOK
}

// loginAppRole logs in at auth/<mount>/login with a role ID and, unless the
// role does not bind one, a secret ID. Surrounding spaces, such as the
// newline at the end of a secret ID file, are removed.
func loginAppRole(ctx context.Context, c *call, cl *api.Client, mount string, v map[string]string) (*api.Secret, int) {
	roleID := strings.TrimSpace(v["role_id"])
	if roleID == "" {
		return nil, c.usageError("role_id is required: give role_id=ID")
	}
	body := map[string]any{"role_id": roleID}
	if s, ok := v["secret_id"]; ok {
		body["secret_id"] = strings.TrimSpace(s)
	}
	cl.ClearToken()
	secret, err := cl.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", body)
	if err != nil {
		return nil, c.serverError("authenticating at", "auth/"+mount, err)
	}
	return secret, exitOK
}
