package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/token/otp"
)

// ceremonyCommands are `operator rekey` and `operator generate-root`.
func ceremonyCommands() map[string]*command {
	return map[string]*command{
		"operator rekey": {
			synopsis: "Generates new unseal keys",
			usage:    "[options] [KEY]",
			help: `Replaces the unseal key and its shares, optionally with another number
of shares or threshold. It needs the server unsealed and a threshold of the
current unseal keys.

Start with -init (and -key-shares, -key-threshold, -verify), then give one
current unseal key per call: as KEY, or prompted for on a terminal, or read
as one line from stdin ("-"). The nonce printed by -init and -status must
be given with -nonce (it is read from the status when omitted). When the
threshold is reached the new keys are printed; with -verify they are only
used once a threshold of them was given back with -verify.

-status prints the progress, -cancel (with -nonce) abandons the attempt.
Only -target=barrier is supported; PGP-encrypted keys are not.`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o rekeyOptions
				fs.BoolVar(&o.init, "init", false, "Start a rekey.")
				fs.BoolVar(&o.cancel, "cancel", false, "Cancel the rekey (or, with -verify, restart the verification); needs -nonce.")
				fs.BoolVar(&o.status, "status", false, "Print the rekey progress.")
				fs.BoolVar(&o.verify, "verify", false, "With -init: require verification of the new keys. Otherwise: act on the verification.")
				fs.IntVar(&o.shares, "key-shares", 5, "Number of new key shares.")
				fs.IntVar(&o.shares, "n", 5, "Alias for -key-shares.")
				fs.IntVar(&o.threshold, "key-threshold", 3, "Number of new key shares needed to unseal.")
				fs.IntVar(&o.threshold, "t", 3, "Alias for -key-threshold.")
				fs.StringVar(&o.nonce, "nonce", "", "Nonce of the rekey (or of its verification).")
				fs.StringVar(&o.target, "target", "barrier", `Which keys to rekey; only "barrier" is supported.`)
				fs.StringVar(&o.pgpKeys, "pgp-keys", "", "Not supported: PGP-encrypted key shares.")
				fs.BoolVar(&o.backup, "backup", false, "Not supported: key backup needs PGP keys.")
				return func(ctx context.Context, c *call, args []string) int {
					return runRekey(ctx, c, args, o)
				}
			},
		},
		"operator generate-root": {
			synopsis: "Generates a new root token",
			usage:    "[options] [KEY]",
			help: `Generates a new root token from a threshold of unseal keys, for when no
root token is left.

Start with -init (with -otp, or let the server make one and print it), then
give one unseal key per call: as KEY, or prompted for on a terminal, or read
as one line from stdin ("-"), with the attempt's -nonce (read from the
status when omitted). The last key prints the encoded token; decode it with
-decode=ENCODED -otp=OTP. -generate-otp prints a fresh one-time pad of the
right length, -status prints the progress, -cancel (with -nonce) abandons
the attempt. PGP-encrypted tokens are not supported.`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o genRootOptions
				fs.BoolVar(&o.init, "init", false, "Start a root token generation.")
				fs.BoolVar(&o.cancel, "cancel", false, "Cancel the generation; needs -nonce.")
				fs.BoolVar(&o.status, "status", false, "Print the progress.")
				fs.BoolVar(&o.generateOTP, "generate-otp", false, "Print a new one-time pad.")
				fs.StringVar(&o.otp, "otp", "", "One-time pad for -init or -decode.")
				fs.StringVar(&o.decode, "decode", "", "Encoded token to decode with -otp.")
				fs.StringVar(&o.nonce, "nonce", "", "Nonce of the generation.")
				fs.StringVar(&o.pgpKey, "pgp-key", "", "Not supported: PGP-encrypted root token.")
				return func(ctx context.Context, c *call, args []string) int {
					return runGenerateRoot(ctx, c, args, o)
				}
			},
		},
	}
}

// rekeyOptions are the flags of operator rekey.
type rekeyOptions struct {
	init, cancel, status, verify, backup bool
	shares, threshold                    int
	nonce, target, pgpKeys               string
}

func runRekey(ctx context.Context, c *call, args []string, o rekeyOptions) int {
	if o.target != "barrier" {
		return c.usageError("Only -target=barrier is supported: this server has no recovery keys")
	}
	if o.pgpKeys != "" || o.backup {
		return c.usageError("PGP-encrypted key shares (and their backup) are not supported")
	}
	if n := countTrue(o.init, o.cancel, o.status); n > 1 {
		return c.usageError("Only one of -init, -cancel and -status may be given")
	}
	if (o.init || o.cancel || o.status) && len(args) != 0 {
		return c.usageError("Too many arguments (expected 0, got %d)", len(args))
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	sys := cl.Sys()
	switch {
	case o.init:
		st, err := sys.RekeyInitWithContext(ctx, &api.RekeyInitRequest{SecretShares: o.shares, SecretThreshold: o.threshold, RequireVerification: o.verify})
		if err != nil {
			return c.serverError("initializing rekey with", "sys/rekey/init", err)
		}
		return c.printRekeyStatus(st)
	case o.cancel && o.verify:
		if o.nonce == "" {
			return c.usageError("-cancel needs the verification's -nonce")
		}
		if err := rawNonceDelete(ctx, cl, "sys/rekey/verify", o.nonce); err != nil {
			return c.serverError("cancelling rekey verification with", "sys/rekey/verify", err)
		}
		return c.success("Rekey verification restarted; the new keys are still pending.")
	case o.cancel:
		if o.nonce == "" {
			return c.usageError("-cancel needs the rekey's -nonce")
		}
		if err := sys.RekeyCancelWithContextWithNonce(ctx, o.nonce); err != nil {
			return c.serverError("cancelling rekey with", "sys/rekey/init", err)
		}
		return c.success("Rekey canceled.")
	case o.status && o.verify:
		st, err := sys.RekeyVerificationStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading rekey verification status from", "sys/rekey/verify", err)
		}
		if c.format == "json" {
			return c.printJSONOrFail(st)
		}
		t, _ := kvTable([][2]string{
			{"Nonce", st.Nonce},
			{"Started", strconv.FormatBool(st.Started)},
			{"New Shares", strconv.Itoa(st.N)},
			{"New Threshold", strconv.Itoa(st.T)},
			{"Verification Progress", fmt.Sprintf("%d/%d", st.Progress, st.T)},
		})
		fmt.Fprint(c.env.Stdout, t)
		return exitOK
	case o.status:
		st, err := sys.RekeyStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading rekey status from", "sys/rekey/init", err)
		}
		return c.printRekeyStatus(st)
	}
	key, code := c.keyArg(args, "Unseal Key (will be hidden): ")
	if code != exitOK {
		return code
	}
	if o.verify {
		nonce := o.nonce
		if nonce == "" {
			st, err := sys.RekeyStatusWithContext(ctx)
			if err != nil {
				return c.serverError("reading rekey status from", "sys/rekey/init", err)
			}
			nonce = st.VerificationNonce
		}
		res, err := sys.RekeyVerificationUpdateWithContext(ctx, key, nonce)
		if err != nil {
			return c.serverError("verifying rekey with", "sys/rekey/verify", err)
		}
		if c.format == "json" {
			return c.printJSONOrFail(res)
		}
		if !res.Complete {
			st, err := sys.RekeyVerificationStatusWithContext(ctx)
			if err != nil {
				return c.serverError("reading rekey verification status from", "sys/rekey/verify", err)
			}
			t, _ := kvTable([][2]string{{"Nonce", st.Nonce}, {"Verification Progress", fmt.Sprintf("%d/%d", st.Progress, st.T)}})
			fmt.Fprint(c.env.Stdout, t)
			return exitOK
		}
		return c.success("Rekey verification successful. The rekey operation is complete and the new keys are now active.")
	}
	nonce := o.nonce
	if nonce == "" {
		st, err := sys.RekeyStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading rekey status from", "sys/rekey/init", err)
		}
		nonce = st.Nonce
	}
	res, err := sys.RekeyUpdateWithContext(ctx, key, nonce)
	if err != nil {
		return c.serverError("posting unseal key to", "sys/rekey/update", err)
	}
	if !res.Complete {
		st, err := sys.RekeyStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading rekey status from", "sys/rekey/init", err)
		}
		return c.printRekeyStatus(st)
	}
	if c.format == "json" {
		return c.printJSONOrFail(res)
	}
	w := c.env.Stdout
	for i, k := range res.KeysB64 {
		fmt.Fprintf(w, "Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(w, "\nOperation nonce: %s\n\n", res.Nonce)
	if res.VerificationRequired {
		fmt.Fprintf(w, "The new keys are not active yet: give a threshold of them back with\n"+
			"\"coffer operator rekey -verify -nonce=%s\" to make them the unseal keys.\n"+
			"Until then the current unseal keys stay in force.\n", res.VerificationNonce)
		return exitOK
	}
	fmt.Fprintf(w, "Coffer unseal key rekeyed with %d key shares. Please securely distribute\n"+
		"the key shares printed above; the previous unseal keys no longer work.\n", len(res.KeysB64))
	return exitOK
}

func (c *call) printRekeyStatus(st *api.RekeyStatusResponse) int {
	if c.format == "json" {
		return c.printJSONOrFail(st)
	}
	pairs := [][2]string{
		{"Nonce", st.Nonce},
		{"Started", strconv.FormatBool(st.Started)},
		{"Rekey Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)},
		{"New Shares", strconv.Itoa(st.N)},
		{"New Threshold", strconv.Itoa(st.T)},
		{"Verification Required", strconv.FormatBool(st.VerificationRequired)},
	}
	if st.VerificationNonce != "" {
		pairs = append(pairs, [2]string{"Verification Nonce", st.VerificationNonce})
	}
	t, _ := kvTable(pairs)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// genRootOptions are the flags of operator generate-root.
type genRootOptions struct {
	init, cancel, status, generateOTP bool
	otp, decode, nonce, pgpKey        string
}

func runGenerateRoot(ctx context.Context, c *call, args []string, o genRootOptions) int {
	if o.pgpKey != "" {
		return c.usageError("PGP-encrypted root tokens are not supported; use an OTP")
	}
	if n := countTrue(o.init, o.cancel, o.status, o.generateOTP, o.decode != ""); n > 1 {
		return c.usageError("Only one of -init, -cancel, -status, -generate-otp and -decode may be given")
	}
	if (o.init || o.cancel || o.status || o.generateOTP || o.decode != "") && len(args) != 0 {
		return c.usageError("Too many arguments (expected 0, got %d)", len(args))
	}
	if o.decode != "" {
		if o.otp == "" {
			return c.usageError("-decode needs the -otp the generation was started with")
		}
		id, err := otp.Decode(o.decode, o.otp)
		if err != nil {
			return c.usageError("Error decoding the token: %v", err)
		}
		if c.format == "json" {
			return c.printJSONOrFail(map[string]string{"token": id})
		}
		fmt.Fprintln(c.env.Stdout, id)
		return exitOK
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	sys := cl.Sys()
	switch {
	case o.generateOTP:
		st, err := sys.GenerateRootStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading root generation status from", "sys/generate-root/attempt", err)
		}
		if st.OTPLength <= 0 {
			return c.usageError("The server did not say how long the one-time pad must be")
		}
		fmt.Fprintln(c.env.Stdout, otp.New(st.OTPLength))
		return exitOK
	case o.init:
		st, err := sys.GenerateRootInitWithContext(ctx, o.otp, "")
		if err != nil {
			return c.serverError("initializing root generation with", "sys/generate-root/attempt", err)
		}
		return c.printGenRootStatus(st)
	case o.cancel:
		if o.nonce == "" {
			return c.usageError("-cancel needs the generation's -nonce")
		}
		if err := rawNonceDelete(ctx, cl, "sys/generate-root/attempt", o.nonce); err != nil {
			return c.serverError("cancelling root generation with", "sys/generate-root/attempt", err)
		}
		return c.success("Root token generation canceled.")
	case o.status:
		st, err := sys.GenerateRootStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading root generation status from", "sys/generate-root/attempt", err)
		}
		return c.printGenRootStatus(st)
	}
	key, code := c.keyArg(args, "Unseal Key (will be hidden): ")
	if code != exitOK {
		return code
	}
	nonce := o.nonce
	if nonce == "" {
		st, err := sys.GenerateRootStatusWithContext(ctx)
		if err != nil {
			return c.serverError("reading root generation status from", "sys/generate-root/attempt", err)
		}
		nonce = st.Nonce
	}
	st, err := sys.GenerateRootUpdateWithContext(ctx, key, nonce)
	if err != nil {
		return c.serverError("posting unseal key to", "sys/generate-root/update", err)
	}
	return c.printGenRootStatus(st)
}

func (c *call) printGenRootStatus(st *api.GenerateRootStatusResponse) int {
	if c.format == "json" {
		return c.printJSONOrFail(st)
	}
	pairs := [][2]string{
		{"Nonce", st.Nonce},
		{"Started", strconv.FormatBool(st.Started)},
		{"Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)},
		{"Complete", strconv.FormatBool(st.Complete)},
	}
	if st.EncodedToken != "" {
		pairs = append(pairs, [2]string{"Encoded Token", st.EncodedToken})
	}
	if st.OTP != "" {
		pairs = append(pairs, [2]string{"OTP", st.OTP})
	}
	if st.OTPLength > 0 {
		pairs = append(pairs, [2]string{"OTP Length", strconv.Itoa(st.OTPLength)})
	}
	t, _ := kvTable(pairs)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// keyArg is the key share given as the only argument, or read from the
// terminal or stdin when there is none or it is "-".
func (c *call) keyArg(args []string, prompt string) (string, int) {
	if len(args) > 1 {
		return "", c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	if len(args) == 1 && args[0] != "-" {
		return args[0], exitOK
	}
	k, err := c.readSecretLine(prompt)
	if err != nil {
		return "", c.usageError("Error reading unseal key: %v", err)
	}
	if k == "" {
		return "", c.usageError("No unseal key given: pass it as an argument, type it at the prompt on a terminal, or send it as one line on stdin")
	}
	return k, exitOK
}

// rawNonceDelete sends DELETE path with the attempt's nonce (as a query
// parameter), which the official client's cancel methods for these paths
// do not send.
func rawNonceDelete(ctx context.Context, cl *api.Client, path, nonce string) error {
	_, err := cl.Logical().DeleteWithDataWithContext(ctx, path, map[string][]string{"nonce": {nonce}})
	return err
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
