package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("missing subcommand (see sigil config --help)")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective settings, secrets redacted",
		Long: `Load the configuration (--config or $SIGIL_CONFIG, then SIGIL_* environment
overrides), validate it, and print every effective setting as "key: value",
with the password and options of storage.mongo_uri redacted.

Exit status 2 when the configuration is invalid or a SIGIL_* environment
variable names no setting (the closest setting is suggested).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, s := range cfg.Settings() {
				fmt.Fprintf(&b, "%s: %s\n", s.Key, s.Value)
			}
			if _, err := fmt.Fprint(a.stdout, b.String()); err != nil {
				return failure(err)
			}
			unknown := configs.UnknownEnvVars(a.environ())
			if len(unknown) == 0 {
				return nil
			}
			msgs := make([]string, len(unknown))
			for i, u := range unknown {
				msgs[i] = u.String()
			}
			return usagef("%s", strings.Join(msgs, "; "))
		},
	})
	return cmd
}

// warnUnknownEnv logs each SIGIL_* variable that names no setting (serve
// runs anyway; `sigil config check` refuses).
func (a *app) warnUnknownEnv(logger *slog.Logger) {
	for _, u := range configs.UnknownEnvVars(a.environ()) {
		logger.Warn("unknown environment variable ignored", "name", u.Name, "did_you_mean", u.Closest, "setting", u.Key)
	}
}
