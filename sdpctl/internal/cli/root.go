// Package cli is the operator's command line for the Helm Deployer's
// config DB: create, inspect and delete deployment entries, follow their
// state, and list the /resource/ entries. It speaks only through the
// contract package configdb, exactly as a processing script would, so what
// it writes is what the services read.
//
// The command tree is a library (NewRoot, Run) so that tests run it in
// process against a real etcd; cmd/sdpctl is a thin main around Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed: etcd away, entry missing, bad input
	ExitUsage   = 2 // the command line itself is wrong: flags, arguments
)

// DefaultTimeout bounds each command's config DB calls, so that an absent
// etcd is an error within seconds rather than a hang.
const DefaultTimeout = 5 * time.Second

// usageError is a command line that cannot be run as given; it exits with
// ExitUsage like cobra's own flag and argument errors.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// failure marks an error returned by a command's own work, as opposed to
// cobra's parsing of the command line.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

// Run executes sdpctl with args (without the program name) and returns the
// process exit code. Errors are written to stderr as one line. lookupEnv
// reads the SDP_* settings (os.LookupEnv in main).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) (code int) {
	// An operator gets one line, even from a bug.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "sdpctl: internal error, please report it: %v\n", r)
			code = ExitFailure
		}
	}()
	root := newRoot(stdin, stdout, stderr, lookupEnv)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var u usageError
	var f failure
	code, msg := ExitUsage, err.Error()
	switch {
	case errors.As(err, &f):
		code = ExitFailure
	case errors.As(err, &u):
	case cmd != nil && cmd != root:
		// Cobra's own messages ("accepts 1 arg(s), received 0") do not
		// say which command they are about.
		msg = strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ") + ": " + msg
	}
	msg = strings.TrimSpace(msg)
	if code == ExitUsage {
		help := root.Name() + " --help"
		if cmd != nil {
			help = cmd.CommandPath() + " --help"
		}
		msg += fmt.Sprintf("; see '%s'", help)
	}
	// One line: cobra's suggestions ("Did you mean this?") come on several
	// lines, which would split a message that scripts grep.
	msg = strings.Replace(msg, "\n\nDid you mean this?", "; did you mean:", 1)
	fmt.Fprintf(stderr, "sdpctl: %s\n", strings.Join(strings.Fields(msg), " "))
	return code
}

// NewRoot returns the sdpctl command tree writing to stdout and stderr and
// reading the SDP_* settings from the process environment.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	return newRoot(os.Stdin, stdout, stderr, os.LookupEnv)
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *cobra.Command {
	a := &app{lookupEnv: lookupEnv, stderr: stderr}
	root := &cobra.Command{
		Use:   "sdpctl",
		Short: "Operate the Helm Deployer through its config DB",
		Long: `sdpctl creates, inspects and deletes deployment entries (/deploy/<id>) in the
SDP configuration database, follows their state (/deploy/<id>/state) and lists
the /resource/ entries, exactly as a processing script would; explain says why
a deployment is not running.

It reads the services' settings: SDP_CONFIG_HOST, SDP_CONFIG_PORT,
SDP_CONFIG_ENDPOINTS, SDP_CONFIG_PROTOCOL, SDP_CONFIG_CERT, SDP_CONFIG_CA,
SDP_CONFIG_INSECURE_SKIP_VERIFY, SDP_CONFIG_USERNAME, SDP_CONFIG_PASSWORD,
SDP_CONFIG_PREFIX and SDP_HELM_PREFIX (explain: SDP_HELM_NAMESPACE and
KUBECONFIG); the flags below override them.

Exit codes: 0 success, 1 failure, 2 bad command line.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if !cmd.HasParent() {
			return usageError{err}
		}
		return usageError{fmt.Errorf("%s: %w", strings.TrimPrefix(cmd.CommandPath(), root.Name()+" "), err)}
	})
	a.bindFlags(root)
	root.AddCommand(
		a.createCmd(),
		a.getCmd(),
		a.listCmd(),
		a.deleteCmd(),
		a.stateCmd(),
		a.explainCmd(),
		a.resourcesCmd(),
	)
	return root
}

// runE marks what a command returns as its failure (exit 1) unless it is
// already a usage error.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil {
			return nil
		}
		var u usageError
		if errors.As(err, &u) {
			return err
		}
		return failure{err}
	}
}
