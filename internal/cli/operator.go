package cli

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

// operatorCommands are `status` and the `operator` group.
func operatorCommands() map[string]*command {
	return map[string]*command{
		"status": {
			synopsis: "Print seal and HA status",
			usage:    "[options]",
			help: `Prints the seal status of the server. The exit code is 0 when the
server is unsealed, 2 when it is sealed and 1 when the status could not be
read.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runStatus },
		},
		"operator init": {
			synopsis: "Initializes a server",
			usage:    "[options]",
			help: `Initializes a new server: generates the root key, splits it into
-key-shares unseal keys of which -key-threshold are needed to unseal, and
prints the keys and the initial root token. A server with an auto seal
(static, transit, pkcs11) unseals itself and hands out -recovery-shares
recovery keys instead, -recovery-threshold of which prove a quorum of
operators (seal migration, unsealing after operator seal). With -status,
only reports whether the server is initialized (exit 0) or not (exit 2).`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o initOptions
				fs.IntVar(&o.shares, "key-shares", 5, "Number of unseal key shares to generate.")
				fs.IntVar(&o.shares, "n", 5, "Alias for -key-shares.")
				fs.IntVar(&o.threshold, "key-threshold", 3, "Number of key shares needed to unseal.")
				fs.IntVar(&o.threshold, "t", 3, "Alias for -key-threshold.")
				fs.IntVar(&o.recoveryShares, "recovery-shares", 5, "Number of recovery key shares to generate (auto seals only).")
				fs.IntVar(&o.recoveryThreshold, "recovery-threshold", 3, "Number of recovery key shares needed (auto seals only).")
				fs.BoolVar(&o.status, "status", false, "Only print whether the server is initialized.")
				return func(ctx context.Context, c *call, args []string) int {
					fs.Visit(func(f *flag.Flag) {
						if f.Name == "recovery-shares" || f.Name == "recovery-threshold" {
							o.recoverySet = true
						}
					})
					return runInit(ctx, c, args, o)
				}
			},
		},
		"operator unseal": {
			synopsis: "Unseals the server",
			usage:    "[options] [KEY]",
			help: `Provides one unseal key share (or, with an auto seal, a recovery key
share). Without KEY (or with "-") the key is prompted for on a terminal, or
read as one line from stdin. With -reset, discards the keys provided so
far. With -migrate, the share is part of a seal migration: the old seal's
unseal keys (from Shamir) or recovery keys (from an auto seal).`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				reset := fs.Bool("reset", false, "Discard the unseal keys provided so far.")
				migrate := fs.Bool("migrate", false, "The key is part of a seal migration.")
				return func(ctx context.Context, c *call, args []string) int {
					return runUnseal(ctx, c, args, *reset, *migrate)
				}
			},
		},
		"operator seal": {
			synopsis: "Seals the server",
			usage:    "[options]",
			help:     `Seals the server: it forgets its keys and serves nothing until unsealed.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runSeal },
		},
		"operator rotate": {
			synopsis: "Rotates the underlying encryption key",
			usage:    "[options]",
			help: `Adds a new term to the keyring: new data is encrypted with it, older
terms stay to decrypt existing data.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runRotate },
		},
		"operator key-status": {
			synopsis: "Provides information about the active encryption key",
			usage:    "[options]",
			help:     `Prints the term, install time and encryption count of the active key.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runKeyStatus },
		},
	}
}

func runStatus(ctx context.Context, c *call, args []string) int {
	if len(args) != 0 {
		return c.usageError("Too many arguments (expected 0, got %d)", len(args))
	}
	cl, err := c.client()
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error initializing client: %v\n", err)
		return exitUsage
	}
	st, err := cl.Sys().SealStatusWithContext(ctx)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error checking seal status: %v\n", err)
		return exitUsage
	}
	var leader *api.LeaderResponse
	if !st.Sealed {
		// HA status is extra information; a server without it still has a
		// seal status to show.
		if l, err := cl.Sys().LeaderWithContext(ctx); err == nil {
			leader = l
		}
	}
	if code := c.printSealStatus(st, leader); code != exitOK {
		return code
	}
	if st.Sealed {
		return exitServer
	}
	return exitOK
}

// statusJSON is the -format=json output of status: the seal status with the
// HA fields when known.
type statusJSON struct {
	*api.SealStatusResponse
	HAEnabled *bool `json:"ha_enabled,omitempty"`
}

// printSealStatus prints the seal status table (or JSON).
func (c *call) printSealStatus(st *api.SealStatusResponse, leader *api.LeaderResponse) int {
	if c.format == "json" {
		out := statusJSON{SealStatusResponse: st}
		if leader != nil {
			out.HAEnabled = &leader.HAEnabled
		}
		return c.printJSONOrFail(out)
	}
	pairs := [][2]string{
		{"Seal Type", st.Type},
		{"Initialized", strconv.FormatBool(st.Initialized)},
		{"Sealed", strconv.FormatBool(st.Sealed)},
		{"Total Shares", strconv.Itoa(st.N)},
		{"Threshold", strconv.Itoa(st.T)},
	}
	if st.RecoverySeal && st.RecoverySealType != "" {
		pairs = append(pairs, [2]string{"Recovery Seal Type", st.RecoverySealType})
	}
	if st.Sealed {
		pairs = append(pairs,
			[2]string{"Unseal Progress", fmt.Sprintf("%d/%d", st.Progress, st.T)},
			[2]string{"Unseal Nonce", st.Nonce})
	}
	if st.Migration {
		pairs = append(pairs, [2]string{"Seal Migration in Progress", "true"})
	}
	pairs = append(pairs, [2]string{"Version", st.Version})
	if st.BuildDate != "" {
		pairs = append(pairs, [2]string{"Build Date", st.BuildDate})
	}
	if st.StorageType != "" {
		pairs = append(pairs, [2]string{"Storage Type", st.StorageType})
	}
	if st.ClusterName != "" {
		pairs = append(pairs, [2]string{"Cluster Name", st.ClusterName})
	}
	if st.ClusterID != "" {
		pairs = append(pairs, [2]string{"Cluster ID", st.ClusterID})
	}
	if leader != nil {
		pairs = append(pairs, [2]string{"HA Enabled", strconv.FormatBool(leader.HAEnabled)})
	}
	t, _ := kvTable(pairs)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// initOptions are the flags of operator init.
type initOptions struct {
	shares, threshold                 int
	recoveryShares, recoveryThreshold int
	recoverySet                       bool // a recovery flag was given
	status                            bool
}

// initJSON is the -format=json output of operator init, in the vault
// binary's shape.
type initJSON struct {
	UnsealKeysB64         []string `json:"unseal_keys_b64"`
	UnsealKeysHex         []string `json:"unseal_keys_hex"`
	UnsealShares          int      `json:"unseal_shares"`
	UnsealThreshold       int      `json:"unseal_threshold"`
	RecoveryKeysB64       []string `json:"recovery_keys_b64"`
	RecoveryKeysHex       []string `json:"recovery_keys_hex"`
	RecoveryKeysShares    int      `json:"recovery_keys_shares"`
	RecoveryKeysThreshold int      `json:"recovery_keys_threshold"`
	RootToken             string   `json:"root_token"`
}

func runInit(ctx context.Context, c *call, args []string, o initOptions) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	if o.status {
		inited, err := cl.Sys().InitStatusWithContext(ctx)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error checking init status: %v\n", err)
			return exitUsage
		}
		if !inited {
			fmt.Fprintln(c.env.Stdout, "Coffer is not initialized")
			return exitServer
		}
		fmt.Fprintln(c.env.Stdout, "Coffer is initialized")
		return exitOK
	}
	if o.shares < 1 || o.threshold < 1 || o.threshold > o.shares {
		return c.usageError("Invalid key shares (%d) and threshold (%d): need 1 <= threshold <= shares", o.shares, o.threshold)
	}
	if o.recoveryShares < 1 || o.recoveryThreshold < 1 || o.recoveryThreshold > o.recoveryShares {
		return c.usageError("Invalid recovery shares (%d) and threshold (%d): need 1 <= threshold <= shares", o.recoveryShares, o.recoveryThreshold)
	}
	// An auto-sealed server takes recovery key settings instead of unseal
	// key settings.
	st, err := cl.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return c.serverError("checking seal status of", "sys/seal-status", err)
	}
	req := &api.InitRequest{SecretShares: o.shares, SecretThreshold: o.threshold}
	if st.RecoverySeal {
		req = &api.InitRequest{RecoveryShares: o.recoveryShares, RecoveryThreshold: o.recoveryThreshold}
	} else if o.recoverySet {
		// Let the server say that Shamir has no recovery keys.
		req.RecoveryShares, req.RecoveryThreshold = o.recoveryShares, o.recoveryThreshold
	}
	resp, err := cl.Sys().InitWithContext(ctx, req)
	if err != nil {
		return c.serverError("initializing", "sys/init", err)
	}
	out := initJSON{
		UnsealKeysB64:   emptyIfNil(resp.KeysB64),
		UnsealKeysHex:   emptyIfNil(resp.Keys),
		UnsealShares:    max(len(resp.KeysB64), len(resp.Keys)),
		UnsealThreshold: o.threshold,
		RecoveryKeysB64: emptyIfNil(resp.RecoveryKeysB64),
		RecoveryKeysHex: emptyIfNil(resp.RecoveryKeys),
		RootToken:       resp.RootToken,
	}
	if st.RecoverySeal {
		out.UnsealThreshold = 0
		out.RecoveryKeysShares = len(out.RecoveryKeysB64)
		out.RecoveryKeysThreshold = o.recoveryThreshold
	}
	// Show base64 keys; derive one encoding from the other when the server
	// sent only one of them.
	if len(out.UnsealKeysB64) == 0 {
		for _, k := range out.UnsealKeysHex {
			if b, err := hex.DecodeString(k); err == nil {
				out.UnsealKeysB64 = append(out.UnsealKeysB64, base64.StdEncoding.EncodeToString(b))
			}
		}
	}
	if len(out.UnsealKeysHex) == 0 {
		for _, k := range out.UnsealKeysB64 {
			if b, err := base64.StdEncoding.DecodeString(k); err == nil {
				out.UnsealKeysHex = append(out.UnsealKeysHex, hex.EncodeToString(b))
			}
		}
	}
	if c.format == "json" {
		return c.printJSONOrFail(out)
	}
	w := c.env.Stdout
	if st.RecoverySeal {
		for i, k := range out.RecoveryKeysB64 {
			fmt.Fprintf(w, "Recovery Key %d: %s\n", i+1, k)
		}
		fmt.Fprintf(w, "\nInitial Root Token: %s\n\n", out.RootToken)
		fmt.Fprintf(w, "Success! Coffer is initialized with its %s seal and unseals itself.\n\n"+
			"Recovery key initialized with %d key shares and a key threshold of %d.\n"+
			"Recovery keys cannot unseal or decrypt anything: they prove a quorum of\n"+
			"operators for seal migration and for unsealing after operator seal.\n"+
			"Please securely distribute the key shares printed above.\n", st.Type, out.RecoveryKeysShares, out.RecoveryKeysThreshold)
		return exitOK
	}
	for i, k := range out.UnsealKeysB64 {
		fmt.Fprintf(w, "Unseal Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(w, "\nInitial Root Token: %s\n\n", out.RootToken)
	fmt.Fprintf(w, "Coffer initialized with %d key shares and a key threshold of %d. Please\n"+
		"securely distribute the key shares printed above. When the server is\n"+
		"re-sealed or restarted, at least %d of these keys are needed to unseal it.\n"+
		"\nThe root token has every permission: revoke it once other ways to\n"+
		"authenticate are set up.\n", out.UnsealShares, out.UnsealThreshold, out.UnsealThreshold)
	return exitOK
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func runUnseal(ctx context.Context, c *call, args []string, reset, migrate bool) int {
	if len(args) > 1 {
		return c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	var key string
	if !reset {
		if len(args) == 1 && args[0] != "-" {
			key = args[0]
		} else {
			k, err := c.readSecretLine("Unseal Key (will be hidden): ")
			if err != nil {
				return c.usageError("Error reading unseal key: %v", err)
			}
			key = k
		}
		if key == "" {
			return c.usageError("No unseal key given: pass it as an argument, type it at the prompt on a terminal, or send it as one line on stdin")
		}
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	st, err := cl.Sys().UnsealWithOptionsWithContext(ctx, &api.UnsealOpts{Key: key, Reset: reset, Migrate: migrate})
	if err != nil {
		return c.serverError("unsealing", "sys/unseal", err)
	}
	return c.printSealStatus(st, nil)
}

func runSeal(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	if err := cl.Sys().SealWithContext(ctx); err != nil {
		return c.serverError("sealing", "sys/seal", err)
	}
	return c.success("Coffer is sealed.")
}

func runRotate(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	if err := cl.Sys().RotateWithContext(ctx); err != nil {
		return c.serverError("rotating key with", "sys/rotate", err)
	}
	ks, err := cl.Sys().KeyStatusWithContext(ctx)
	if err != nil {
		return c.serverError("reading key status from", "sys/key-status", err)
	}
	if c.format == "json" {
		return c.printJSONOrFail(ks)
	}
	fmt.Fprint(c.env.Stdout, "Success! Rotated key\n\n")
	c.printKeyStatus(ks)
	return exitOK
}

func runKeyStatus(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	ks, err := cl.Sys().KeyStatusWithContext(ctx)
	if err != nil {
		return c.serverError("reading key status from", "sys/key-status", err)
	}
	if c.format == "json" {
		return c.printJSONOrFail(ks)
	}
	c.printKeyStatus(ks)
	return exitOK
}

func (c *call) printKeyStatus(ks *api.KeyStatus) {
	t, _ := table([][]string{
		{"Key Term", strconv.Itoa(ks.Term)},
		{"Install Time", ks.InstallTime.UTC().Format(time.RFC822)},
		{"Encryption Count", strconv.Itoa(ks.Encryptions)},
	})
	fmt.Fprint(c.env.Stdout, t)
}
