package main

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

// Exit statuses returned by Main.
const (
	exitOK      = 0
	exitFailure = 1 // an operation failed: storage unreachable, I/O error
	exitUsage   = 2 // bad input: flags, arguments, configuration, unknown or duplicate names
)

// configEnv names the environment variable that gives the configuration file
// when --config is absent.
const configEnv = "SIGIL_CONFIG"

// Main runs the sigil command line with args (without the program name),
// reading from stdin and writing to stdout and stderr, and returns the exit
// status: 0 on success, 2 on bad input, 1 on an operational failure. Every
// error is reported as one line "sigil: <message>" on stderr. Main never
// calls os.Exit, so tests run it in-process; ctx cancels long-running
// commands such as serve.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		getenv:    os.Getenv,
		environ:   os.Environ,
		now:       func() time.Time { return time.Now().UTC() },
		openStore: openStore,
	}
	root := newRootCmd(a)
	if args == nil {
		args = []string{} // cobra falls back to os.Args on nil
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "sigil: %s\n", oneLine(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors not classified by a command come from cobra's own parsing of
	// commands, flags and arguments.
	return exitUsage
}

// newRootCmd builds the sigil command tree around a. Every top-level
// command is listed here.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "sigil",
		Short: "Sigil: an OpenID-style authorization server",
		Long: `Sigil issues OAuth 2.0 access and refresh tokens signed with keys it rotates
itself, publishes them as a JWKS, and keeps its state in MongoDB or an
embedded bbolt file.

Exit status: 0 on success, 1 when an operation failed (for example storage
unreachable), 2 on bad input.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare `sigil` or `sigil unknown` is an error, not a help page
		// with status 0.
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("missing command (see sigil --help)")
		},
	}
	// --version prints the same line as `sigil version`.
	root.Version = version
	root.SetVersionTemplate(versionLine())
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default $"+configEnv+"; none: built-in defaults)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(
		newVersionCmd(a),
		newServeCmd(a),
		newUsersCmd(a),
		newClientsCmd(a),
		newKeysCmd(a),
		newVerifyCmd(a),
		newConfigCmd(a),
		newBackupCmd(a),
		newRestoreCmd(a),
	)
	return root
}

// exitError carries the exit status for an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usagef returns a bad-input error (exit status 2).
func usagef(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// usageError marks err as bad input (exit status 2); nil stays nil.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

// failure marks err as an operational failure (exit status 1); nil stays
// nil.
func failure(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitFailure, err: err}
}

// noArgs rejects positional arguments as bad input, naming an unknown
// subcommand when the command has subcommands.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
}

// exactArgs requires exactly n positional arguments, described by names for
// the error message.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s needs %d argument(s) (%s), got %d", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// groupCmd returns a command that only holds subcommands: run bare it prints
// its help, with an unknown subcommand it fails as bad input.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

// oneLine folds a possibly multi-line message (cobra's suggestions) onto one
// line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
