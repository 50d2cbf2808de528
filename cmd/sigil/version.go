package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// Build stamps, set by `make build` with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234 -X main.buildDate=2026-01-02T03:04:05Z".
var (
	version   = "dev"
	commit    = "unknown"
	buildDate = "unknown"
)

// versionLine is what `sigil version` and `sigil --version` print.
func versionLine() string {
	return fmt.Sprintf("sigil %s (commit %s, built %s, %s, %s/%s)\n", version, commit, buildDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of sigil and the Go it was built with",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(a.stdout, versionLine())
			return failure(err)
		},
	}
}
