// Command coffer is Coffer's single binary: the server (`coffer server`) and
// the command-line client for everything else (`coffer kv get ...`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/coffer-secrets/coffer/internal/cli"
	"github.com/coffer-secrets/coffer/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Server:  server.Main,
		Version: server.Version,
		Local: map[string]cli.ServerFunc{
			"operator migrate":  server.MigrateMain,
			"operator diagnose": server.DiagnoseMain,
		},
	})
	stop()
	os.Exit(code)
}
