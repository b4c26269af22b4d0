package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// maxPolicySize bounds what policy write and policy fmt read, far above any
// real policy, so a wrong file or an endless stdin cannot exhaust memory.
const maxPolicySize = 4 << 20

// policyCommands are the `policy` group.
func policyCommands() map[string]*command {
	return map[string]*command{
		"policy list": {
			synopsis: "List the installed policies",
			usage:    "[options]",
			help:     `Lists the names of the ACL policies (sys/policies/acl), one a line.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runPolicyList },
		},
		"policy read": {
			synopsis: "Print the contents of a policy",
			usage:    "[options] NAME",
			help: `Prints the text of the ACL policy NAME (sys/policies/acl/NAME).

    $ coffer policy read default`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runPolicyRead },
		},
		"policy write": {
			synopsis: "Upload a policy",
			usage:    "[options] NAME PATH",
			help: `Creates or replaces the ACL policy NAME with the HCL or JSON policy in the
file at PATH, or read from stdin when PATH is "-".

    $ coffer policy write app app-policy.hcl
    $ cat app-policy.hcl | coffer policy write app -`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runPolicyWrite },
		},
		"policy delete": {
			synopsis: "Delete a policy by name",
			usage:    "[options] NAME",
			help: `Deletes the ACL policy NAME. Tokens that name it keep the name but lose
its permissions. The "default" and "root" policies cannot be deleted.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runPolicyDelete },
		},
		"policy fmt": {
			synopsis: "Format a policy file in place",
			usage:    "PATH",
			help: `Rewrites the HCL policy file at PATH in the canonical HCL layout
(indentation, spacing, aligned "=" signs). A file that is not valid HCL is
left alone and reported with its line and column. No server is contacted.

    $ coffer policy fmt app-policy.hcl`,
			setup: func(*flag.FlagSet) runFunc { return runPolicyFmt },
		},
	}
}

// policyName normalizes a policy name as the server stores it.
func policyName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

func runPolicyList(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	names, err := cl.Sys().ListPoliciesWithContext(ctx)
	if err != nil {
		return c.serverError("listing policies with", "sys/policies/acl", err)
	}
	if c.format == "json" {
		if names == nil {
			names = []string{}
		}
		return c.printJSONOrFail(names)
	}
	for _, n := range names {
		fmt.Fprintln(c.env.Stdout, n)
	}
	return exitOK
}

func runPolicyRead(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	name := policyName(args[0])
	rules, err := cl.Sys().GetPolicyWithContext(ctx, name)
	if err != nil {
		return c.serverError("reading policy", name, err)
	}
	if rules == "" {
		fmt.Fprintf(c.env.Stderr, "No policy named: %s\n", name)
		return exitServer
	}
	if c.format == "json" {
		return c.printJSONOrFail(map[string]string{"policy": rules})
	}
	fmt.Fprintln(c.env.Stdout, strings.TrimSpace(rules))
	return exitOK
}

func runPolicyWrite(ctx context.Context, c *call, args []string) int {
	if len(args) != 2 {
		return c.usageError("Wrong number of arguments (expected 2, got %d)", len(args))
	}
	name := policyName(args[0])
	src := strings.TrimSpace(args[1])
	var (
		b   []byte
		err error
	)
	if src == "-" {
		if c.env.Stdin == nil {
			return c.usageError("Error reading policy from stdin: no stdin")
		}
		b, err = readLimited(c.env.Stdin, maxPolicySize)
	} else {
		b, err = readFileLimited(src, maxPolicySize)
	}
	if err != nil {
		return c.usageError("Error reading policy from %s: %v", displaySource(src), err)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if err := cl.Sys().PutPolicyWithContext(ctx, name, string(b)); err != nil {
		return c.serverError("uploading policy", name, err)
	}
	return c.success("Uploaded policy: %s", name)
}

func runPolicyDelete(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	name := policyName(args[0])
	if err := cl.Sys().DeletePolicyWithContext(ctx, name); err != nil {
		return c.serverError("deleting policy", name, err)
	}
	return c.success("Deleted policy: %s", name)
}

func runPolicyFmt(_ context.Context, c *call, args []string) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	path := args[0]
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading policy file: %v\n", err)
		return exitUsage
	}
	b, err := readFileLimited(path, maxPolicySize)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading policy file %s: %v\n", path, err)
		return exitUsage
	}
	out, err := formatPolicy(path, b)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error parsing policy: %v\n", err)
		return exitUsage
	}
	if err := os.WriteFile(path, out, st.Mode().Perm()); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error writing policy file: %v\n", err)
		return exitUsage
	}
	return c.success("Formatted policy: %s", path)
}

// formatPolicy returns src in canonical HCL layout. It fails, with the
// file:line:column of each problem, when src is not valid HCL native syntax;
// filename is used only in those messages.
func formatPolicy(filename string, src []byte) ([]byte, error) {
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// readLimited reads r to its end, failing if it holds more than limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// readFileLimited reads the file at path, failing if it is larger than
// limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	return readLimited(f, limit)
}

// displaySource names a policy source for messages.
func displaySource(src string) string {
	if src == "-" {
		return "stdin"
	}
	return fmt.Sprintf("file %q", src)
}
