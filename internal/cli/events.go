package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/coffer-secrets/coffer/internal/agent/eventsub"
)

// eventsCommands are `coffer events subscribe`.
func eventsCommands() map[string]*command {
	return map[string]*command{
		"events": {synopsis: "Subscribe to events"},
		"events subscribe": {
			synopsis: "Print events as they happen, one JSON object a line",
			usage:    "[options] EVENT_TYPE",
			help: `Subscribes to events whose type matches EVENT_TYPE (a glob: "*" matches
anything, e.g. 'kv*' or 'kv-v2/data-write') over a WebSocket
(sys/events/subscribe/EVENT_TYPE) and prints each as one line of JSON in
Vault's CloudEvents shape, until interrupted. Only events for paths the
token may read arrive. -filter is a glob on the event's data path.

    $ coffer events subscribe 'kv*'
    $ coffer events subscribe -filter='secret/data/app/*' kv-v2/data-write`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var filter string
				var timeout time.Duration
				fs.StringVar(&filter, "filter", "", "glob on the event's data path, e.g. secret/data/app/*")
				fs.DurationVar(&timeout, "timeout", 0, "stop after this long (0: run until interrupted)")
				return func(ctx context.Context, c *call, args []string) int {
					return runEventsSubscribe(ctx, c, args, filter, timeout)
				}
			},
		},
	}
}

func runEventsSubscribe(ctx context.Context, c *call, args []string, filter string, timeout time.Duration) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := eventsub.Dial(ctx, cl, cl.Token(), args[0], filter)
	if err != nil {
		if errors.Is(err, eventsub.ErrAddress) {
			return c.usageError("Invalid address %q", cl.Address())
		}
		return c.serverError("subscribing to", args[0], err)
	}
	defer conn.CloseNow()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				conn.Close(websocket.StatusNormalClosure, "")
				return exitOK
			}
			if s := websocket.CloseStatus(err); s == websocket.StatusNormalClosure {
				fmt.Fprintln(c.env.Stderr, "The server ended the stream.")
				return exitServer
			}
			return c.serverError("reading events of", args[0], err)
		}
		fmt.Fprintf(c.env.Stdout, "%s\n", b)
	}
}
