package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
)

func newUsersCmd(a *app) *cobra.Command {
	cmd := groupCmd("users", "Manage users (works on storage directly)")
	cmd.AddCommand(
		newUsersAddCmd(a),
		newUsersListCmd(a),
		newUsersDisableCmd(a, true),
		newUsersDisableCmd(a, false),
		newUsersSetPasswordCmd(a),
		newUsersImportCmd(a),
		newUsersConsentsCmd(a),
	)
	return cmd
}

func newUsersAddCmd(a *app) *cobra.Command {
	var (
		passwordStdin bool
		email, name   string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --password-stdin [--email E] [--name N]",
		Short: "Create a user",
		Long: `Create a user with a random id. The password is read from the first line of
stdin (--password-stdin) or, on a terminal, prompted for twice; it is stored
as an argon2id hash.`,
		Example: `  printf '%s\n' "$PASSWORD" | sigil users add alice --password-stdin --email alice@example.com`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			id, err := oauth.NewUserID()
			if err != nil {
				return failure(err)
			}
			now := a.now()
			u := storage.User{
				ID:                id,
				Username:          username,
				Email:             email,
				Name:              name,
				PasswordChangedAt: now,
				CreatedAt:         now,
				UpdatedAt:         now,
			}
			if err := oauth.ValidateUser(u); err != nil {
				return usageError(err)
			}
			pw, err := a.readNewPassword(passwordStdin)
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				var err error
				if u.PasswordHash, err = password.Hash(pw, argon2Params(cfg)); err != nil {
					return failure(fmt.Errorf("hash password: %w", err))
				}
				if err := oauth.CheckSubjectFree(cmd.Context(), s, oauth.SubjectUser, u.ID); errors.Is(err, oauth.ErrSubjectTaken) {
					return usageError(err)
				} else if err != nil {
					return storeError(err)
				}
				if err := s.CreateUser(cmd.Context(), u); err != nil {
					if errors.Is(err, storage.ErrDuplicate) {
						return usagef("user %q already exists", username)
					}
					return storeError(fmt.Errorf("create user %q: %w", username, err))
				}
				_, err = fmt.Fprintf(a.stdout, "user %q created with id %s\n", username, id)
				return failure(err)
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().StringVar(&email, "email", "", "email address")
	cmd.Flags().StringVar(&name, "name", "", "full display name")
	return cmd
}

func newUsersListCmd(a *app) *cobra.Command {
	return newListCmd(a, "List users (never their password hashes)", "users",
		storage.Store.ListUsers, usersView, writeUsersTable)
}

// newListCmd builds a `list [--json]` verb over the records list reads: a
// table by default, the JSON array of view with --json. what names the
// records in errors.
func newListCmd[T, V any](a *app, short, what string, list func(storage.Store, context.Context) ([]T, error),
	view func([]T) []V, table func(*app, []T) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			return a.withStore(cmd.Context(), func(_ configs.Config, s storage.Store) error {
				u, err := userByName(cmd.Context(), s, username)
				if err != nil {
					return err
				}
				if err := s.SetUserDisabled(cmd.Context(), u.ID, disable, a.now()); err != nil {
					return storeError(fmt.Errorf("%s user %q: %w", verb, username, err))
				}
				if disable {
					// Disabling ends the user's sessions and refresh
					// families for good: enabling later does not bring
					// them back.
					if _, _, err := oauth.EndUserSessions(cmd.Context(), s, u.ID, a.now(), oauth.RevokeUserDisabled); err != nil {
						return storeError(fmt.Errorf("end the sessions of user %q: %w", username, err))
					}
				}
				_, err = fmt.Fprintf(a.stdout, "user %q %sd\n", username, verb)
				return failure(err)
			})
		},
	}
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
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				hash, err := password.Hash(pw, argon2Params(cfg))
				if err != nil {
					return failure(fmt.Errorf("hash password: %w", err))
				}
				u, err := userByName(cmd.Context(), s, username)
				if err != nil {
					return err
				}
				if err := s.SetUserPassword(cmd.Context(), u.ID, hash, a.now()); err != nil {
					return storeError(fmt.Errorf("set password of user %q: %w", username, err))
				}
				if _, _, err := oauth.EndUserSessions(cmd.Context(), s, u.ID, a.now(), oauth.RevokePasswordChanged); err != nil {
					return storeError(fmt.Errorf("end the sessions of user %q: %w", username, err))
				}
				_, err = fmt.Fprintf(a.stdout, "password of user %q changed\n", username)
				return failure(err)
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
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
			PasswordChangedAt: u.PasswordChangedAt.UTC(),
			CreatedAt:         u.CreatedAt.UTC(),
			UpdatedAt:         u.UpdatedAt.UTC(),
		})
	}
	return out
}

func writeUsersTable(a *app, users []storage.User) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tNAME\tDISABLED\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", u.ID, u.Username, dashIfEmpty(u.Email), dashIfEmpty(u.Name), u.Disabled, u.CreatedAt.UTC().Format(time.RFC3339))
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
