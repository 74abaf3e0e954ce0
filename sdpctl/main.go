// Command sdpctl is the operator's command line for the Helm Deployer's
// config DB; see package internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
)

func main() {
	// Ctrl-C ends a --watch cleanly (exit 0) and aborts other commands.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
