package cli

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// haCommands are `coffer operator step-down` and `coffer operator members`.
func haCommands() map[string]*command {
	return map[string]*command{
		"operator step-down": {
			synopsis: "Make the active node give up leadership",
			usage:    "[options]",
			help: `Asks the active node of a high-availability cluster to step down
(sys/step-down, needs sudo): it becomes a standby and another unsealed node
takes over.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runStepDown },
		},
		"operator members": {
			synopsis: "List the nodes of a high-availability cluster",
			usage:    "[options]",
			help:     `Prints the cluster's nodes (sys/ha-status): host name, API and cluster addresses, whether the node is active, and when it was last heard from.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runMembers },
		},
	}
}

func runStepDown(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	if err := cl.Sys().StepDownWithContext(ctx); err != nil {
		return c.serverError("stepping down", "sys/step-down", err)
	}
	return c.success("Stepped down: %s", cl.Address())
}

func runMembers(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	st, err := cl.Sys().HAStatusWithContext(ctx)
	if err != nil {
		return c.serverError("reading", "sys/ha-status", err)
	}
	if c.format == "json" {
		return c.printJSONOrFail(st)
	}
	fmt.Fprintf(c.env.Stdout, "%-24s %-32s %-32s %-11s %s\n", "Host Name", "API Address", "Cluster Address", "Active Node", "Last Echo")
	fmt.Fprintf(c.env.Stdout, "%-24s %-32s %-32s %-11s %s\n", "---------", "-----------", "---------------", "-----------", "---------")
	for _, n := range st.Nodes {
		echo := "n/a"
		if n.LastEcho != nil {
			echo = n.LastEcho.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(c.env.Stdout, "%-24s %-32s %-32s %-11v %s\n", n.Hostname, n.APIAddress, n.ClusterAddress, n.ActiveNode, echo)
	}
	return exitOK
}
