package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

func newUsersCmd(a *app) *cobra.Command {
	cmd := groupCmd("users", "Manage users (on storage directly, or on a running server with --server)")
	addServerFlag(a, cmd)
	cmd.AddCommand(
		newUsersAddCmd(a),
		newUsersListCmd(a),
		newUsersDisableCmd(a, true),
		newUsersDisableCmd(a, false),
		newUsersSetPasswordCmd(a),
		newUsersSetAdminCmd(a),
		newUsersImportCmd(a),
		newUsersConsentsCmd(a),
	)
	return cmd
}

func newUsersAddCmd(a *app) *cobra.Command {
	var (
		passwordStdin, admin bool
		email, name          string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --password-stdin [--email E] [--name N] [--admin]",
		Short: "Create a user",
		Long: `Create a user with a random id. The password is read from the first line of
stdin (--password-stdin) or, on a terminal, prompted for twice; it is stored
as an argon2id hash. --admin lets the user into the console and the admin
API.`,
		Example: `  printf '%s\n' "$PASSWORD" | sigil users add alice --password-stdin --email alice@example.com`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			// The record rules, checked before any password is read.
			for _, err := range []error{oauth.ValidateUsername(username), oauth.ValidateEmail(email), oauth.ValidateDisplayName(name)} {
				if err != nil {
					return usageError(err)
				}
			}
			pw, err := a.readNewPassword(passwordStdin)
			if err != nil {
				return err
			}
			in := oauth.NewUser{Username: username, Password: pw, Email: email, Name: name, Admin: admin}
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var u web.APIUser
				if err := c.do(cmd.Context(), http.MethodPost, "/users", web.APINewUser{Username: in.Username,
					Password: in.Password, Email: in.Email, Name: in.Name, Admin: in.Admin}, &u); err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "user %q created with id %s\n", username, u.ID)
				return failure(err)
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				u, err := localAdmin(cfg, s, a.now).AddUser(cmd.Context(), operator(), in)
				if err != nil {
					return adminFailure(err)
				}
				_, err = fmt.Fprintf(a.stdout, "user %q created with id %s\n", username, u.ID)
				return failure(err)
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().StringVar(&email, "email", "", "email address")
	cmd.Flags().StringVar(&name, "name", "", "full display name")
	cmd.Flags().BoolVar(&admin, "admin", false, "an administrator: may use the console and the admin API")
	return cmd
}

func newUsersListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List users (never their password hashes)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var users []web.APIUser
				if err := c.do(cmd.Context(), http.MethodGet, "/users", nil, &users); err != nil {
					return err
				}
				if asJSON {
					return failure(writeJSON(a, users))
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tNAME\tADMIN\tDISABLED\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\t%s\n", u.ID, u.Username, dashIfEmpty(u.Email), dashIfEmpty(u.Name), u.Admin, u.Disabled, u.CreatedAt.UTC().Format(time.RFC3339))
				}
				return failure(tw.Flush())
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				users, err := localAdmin(cfg, s, a.now).Users(cmd.Context())
				if err != nil {
					return failure(fmt.Errorf("list users: %w", err))
				}
				if asJSON {
					return failure(writeJSON(a, usersView(users)))
				}
				return failure(writeUsersTable(a, users))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// newListCmd builds a `list [--json]` verb over the records list reads: a
// table by default, the JSON array of view with --json. what names the
// records in errors. With --server it prints remote's answer.
func newListCmd[T, V, R any](a *app, short, what string, list func(storage.Store, context.Context) ([]T, error),
	view func([]T) []V, table func(*app, []T) error, remotePath string, remoteTable func(*app, []R) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var records []R
				if err := c.do(cmd.Context(), http.MethodGet, remotePath, nil, &records); err != nil {
					return err
				}
				if asJSON {
					return failure(writeJSON(a, records))
				}
				return failure(remoteTable(a, records))
			}
			return a.withStore(cmd.Context(), func(_ configs.Config, s storage.Store) error {
				records, err := list(s, cmd.Context())
				if err != nil {
					return failure(fmt.Errorf("list %s: %w", what, err))
				}
				if asJSON {
					return failure(writeJSON(a, view(records)))
				}
				return failure(table(a, records))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newUsersDisableCmd(a *app, disable bool) *cobra.Command {
	verb, short := "disable", "Disable a user: logins fail, their sessions end and their refresh tokens stop working"
	if !disable {
		verb, short = "enable", "Enable a disabled user"
	}
	var reason string
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var body any
				if disable {
					body = map[string]string{"reason": reason}
				}
				if err := c.do(cmd.Context(), http.MethodPost, adminPath("/users/%s/"+verb, username), body, nil); err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "user %q %sd\n", username, verb)
				return failure(err)
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				// Disabling ends the user's sessions and refresh families
				// for good: enabling later does not bring them back.
				if err := localAdmin(cfg, s, a.now).SetUserDisabled(cmd.Context(), operator(), username, disable, reason); err != nil {
					return adminFailure(err)
				}
				_, err := fmt.Fprintf(a.stdout, "user %q %sd\n", username, verb)
				return failure(err)
			})
		},
	}
	if disable {
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	}
	return cmd
}

func newUsersSetPasswordCmd(a *app) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "set-password NAME --password-stdin",
		Short: "Replace a user's password (ends their sessions and refresh token families)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			pw, err := a.readNewPassword(passwordStdin)
			if err != nil {
				return err
			}
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodPost, adminPath("/users/%s/password", username), map[string]string{"password": pw}, nil); err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "password of user %q changed\n", username)
				return failure(err)
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				if err := localAdmin(cfg, s, a.now).SetUserPassword(cmd.Context(), operator(), username, pw); err != nil {
					return adminFailure(err)
				}
				_, err = fmt.Fprintf(a.stdout, "password of user %q changed\n", username)
				return failure(err)
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUsersSetAdminCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set-admin NAME true|false",
		Short: "Grant or take away the admin flag (console and admin API)",
		Args:  exactArgs("NAME", "true|false"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			admin, err := strconv.ParseBool(args[1])
			if err != nil {
				return usagef("set-admin wants true or false, got %q", args[1])
			}
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodPost, adminPath("/users/%s/admin", username), map[string]bool{"admin": admin}, nil); err != nil {
					return err
				}
			} else {
				err := a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
					return adminFailure(localAdmin(cfg, s, a.now).SetUserAdmin(cmd.Context(), operator(), username, admin))
				})
				if err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(a.stdout, "user %q admin: %t\n", username, admin)
			return failure(err)
		},
	}
}

// readNewPassword reads a new password from stdin (fromStdin) or prompts on
// the terminal.
func (a *app) readNewPassword(fromStdin bool) (string, error) {
	if fromStdin {
		return readSecretLine(a.stdin, "password")
	}
	return a.promptPassword()
}

// userByName looks a user up, turning "not found" into a bad-input error.
func userByName(ctx context.Context, s storage.Store, username string) (storage.User, error) {
	u, err := s.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, usagef("no user named %q", username)
	}
	if err != nil {
		return storage.User{}, failure(fmt.Errorf("look up user %q: %w", username, err))
	}
	return u, nil
}

// userView is the JSON form of a user in listings: never the password hash.
type userView struct {
	ID                string    `json:"id"`
	Username          string    `json:"username"`
	Email             string    `json:"email,omitempty"`
	EmailVerified     bool      `json:"email_verified"`
	Name              string    `json:"name,omitempty"`
	Disabled          bool      `json:"disabled"`
	Admin             bool      `json:"admin"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func usersView(users []storage.User) []userView {
	out := make([]userView, 0, len(users))
	for _, u := range users {
		out = append(out, userView{
			ID:                u.ID,
			Username:          u.Username,
			Email:             u.Email,
			EmailVerified:     u.EmailVerified,
			Name:              u.Name,
			Disabled:          u.Disabled,
			Admin:             u.Admin,
			PasswordChangedAt: u.PasswordChangedAt.UTC(),
			CreatedAt:         u.CreatedAt.UTC(),
			UpdatedAt:         u.UpdatedAt.UTC(),
		})
	}
	return out
}

func writeUsersTable(a *app, users []storage.User) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tNAME\tADMIN\tDISABLED\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\t%s\n", u.ID, u.Username, dashIfEmpty(u.Email), dashIfEmpty(u.Name), u.Admin, u.Disabled, u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// writeJSON prints v as indented JSON.
func writeJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newUsersConsentsCmd(a *app) *cobra.Command {
	var revoke string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "consents NAME [--revoke CLIENT] [--json]",
		Short: "List the clients a user has consented to, or forget one consent",
		Long: `List the consents a user gave on the consent page: per client, the
scopes allowed and when. With --revoke CLIENT the consent to that client is
forgotten, so its next authorization request shows the consent page again
(tokens already issued are not revoked).`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.notRemote("users consents"); err != nil {
				return err
			}
			username := args[0]
			return a.withStore(cmd.Context(), func(_ configs.Config, s storage.Store) error {
				u, err := userByName(cmd.Context(), s, username)
				if err != nil {
					return err
				}
				if revoke != "" {
					if err := s.DeleteConsent(cmd.Context(), u.ID, revoke); err != nil {
						if errors.Is(err, storage.ErrNotFound) {
							return usagef("user %q has no consent for client %q", username, revoke)
						}
						return storeError(fmt.Errorf("revoke consent: %w", err))
					}
					_, err := fmt.Fprintf(a.stdout, "consent of user %q to client %q revoked\n", username, revoke)
					return failure(err)
				}
				cs, err := s.ListConsents(cmd.Context(), u.ID)
				if err != nil {
					return storeError(fmt.Errorf("list consents: %w", err))
				}
				if asJSON {
					views := make([]consentView, 0, len(cs))
					for _, c := range cs {
						views = append(views, consentView{ClientID: c.ClientID, Scopes: nonNil(c.Scopes), GrantedAt: c.GrantedAt.UTC()})
					}
					return writeJSON(a, views)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT\tSCOPES\tGRANTED")
				for _, c := range cs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ClientID, dashIfEmpty(strings.Join(c.Scopes, ",")), c.GrantedAt.UTC().Format(time.RFC3339))
				}
				return failure(tw.Flush())
			})
		},
	}
	cmd.Flags().StringVar(&revoke, "revoke", "", "forget the consent to this client")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// consentView is the JSON form of a consent.
type consentView struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}
