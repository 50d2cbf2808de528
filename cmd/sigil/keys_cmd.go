package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
)

// operator names the person running a CLI verb in audit events.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "operator:" + name + "@" + host
}

// keyView is one key as `keys list --json` prints it: public metadata only.
type keyView struct {
	KID          string           `json:"kid"`
	Alg          string           `json:"alg"`
	State        storage.KeyState `json:"state"`
	Published    bool             `json:"published"`
	CreatedAt    time.Time        `json:"created"`
	ActivatedAt  *time.Time       `json:"activated,omitempty"`
	RetiredAt    *time.Time       `json:"retired,omitempty"`
	VerifyUntil  *time.Time       `json:"verify_until,omitempty"`
	RevokedAt    *time.Time       `json:"revoked,omitempty"`
	RevokeReason string           `json:"revoke_reason,omitempty"`
	NextRotation *time.Time       `json:"next_rotation,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// listKeys prints the key set.
func listKeys(ctx context.Context, cfg configs.Config, store storage.KeySetStore, w io.Writer, asJSON bool, now time.Time) error {
	set, err := store.GetKeySet(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		set = storage.KeySet{}
	} else if err != nil {
		return err
	}
	pol, err := rotationPolicy(cfg)
	if err != nil {
		return err
	}
	views := make([]keyView, 0, len(set.Keys))
	for _, k := range set.Keys {
		v := keyView{
			KID: k.KID, Alg: k.Alg, State: k.State, Published: keys.Published(k, now),
			CreatedAt: k.CreatedAt.UTC(), ActivatedAt: timePtr(k.ActivatedAt), RetiredAt: timePtr(k.RetiredAt),
			VerifyUntil: timePtr(k.VerifyUntil), RevokedAt: timePtr(k.RevokedAt), RevokeReason: k.RevokeReason,
		}
		if k.State == storage.KeyActive {
			v.NextRotation = timePtr(pol.Schedule.Next(k.ActivatedAt))
		}
		views = append(views, v)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Version int64     `json:"version"`
			Keys    []keyView `json:"keys"`
		}{set.Version, views})
	}
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no keys yet: `sigil serve` or `sigil keys rotate` creates them")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tVERIFY UNTIL\tNEXT ROTATION")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.KID, v.Alg, v.State, v.CreatedAt.Format(time.RFC3339),
			fmtTime(v.ActivatedAt), fmtTime(v.RetiredAt), fmtTime(v.VerifyUntil), fmtTime(v.NextRotation))
	}
	return tw.Flush()
}

// listEvents prints the audit trail.
func listEvents(ctx context.Context, store interface {
	ListKeyEvents(context.Context) ([]storage.KeyEvent, error)
}, w io.Writer, asJSON bool) error {
	evs, err := store.ListKeyEvents(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(eventsView(evs))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tKID\tALG\tFROM\tTO\tACTOR\tREASON")
	for _, e := range evs {
		from, to := transition(e)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.KID, e.Alg, from, to, e.Actor, e.Reason)
	}
	return tw.Flush()
}

// eventView is one audit event as `keys events --json` prints it. The
// storage record has no wire form of its own.
type eventView struct {
	ID     string           `json:"id"`
	Time   time.Time        `json:"time"`
	KID    string           `json:"kid"`
	Alg    string           `json:"alg"`
	Action string           `json:"action"`
	From   storage.KeyState `json:"from,omitempty"`
	To     storage.KeyState `json:"to,omitempty"`
	Actor  string           `json:"actor"`
	Reason string           `json:"reason,omitempty"`
}

// eventsView converts the audit trail for JSON output: never null.
func eventsView(evs []storage.KeyEvent) []eventView {
	out := make([]eventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventView{ID: e.ID, Time: e.Time, KID: e.KID, Alg: e.Alg, Action: e.Action,
			From: e.From, To: e.To, Actor: e.Actor, Reason: e.Reason})
	}
	return out
}

// transition renders an event's states: "-" for a key that did not exist
// before, "gone" for one dropped from the key set.
func transition(e storage.KeyEvent) (from, to string) {
	to = string(e.To)
	if to == "" {
		to = "gone"
	}
	return dashIfEmpty(string(e.From)), to
}

func printResult(w io.Writer, res keys.Result) {
	for _, e := range res.Events {
		from, to := transition(e)
		fmt.Fprintf(w, "%s %s %s: %s → %s\n", e.Action, e.Alg, e.KID, from, to)
	}
}

// newKeysCmd is the `keys` group; each verb has its own constructor below.
func newKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Inspect and manage signing keys (list, rotate, revoke, events, rewrap)",
		Long: `Inspect and manage signing keys. Without --server these verbs work on storage
directly: with the mongo backend every replica picks up a change within
keys.reconcile_interval; the bolt backend is locked by a running server, so
stop it first, or use --server URL to act through the running server's admin
API (list, rotate, revoke and events; the client in SIGIL_ADMIN_CLIENT_ID and
SIGIL_ADMIN_CLIENT_SECRET needs client_credentials and sigil:admin).`,
	}
	addServerFlag(a, cmd)
	cmd.AddCommand(
		newKeysListCmd(a),
		newKeysRotateCmd(a),
		newKeysRevokeCmd(a),
		newKeysEventsCmd(a),
		newKeysRewrapCmd(a),
	)
	return cmd
}

func newKeysListCmd(a *app) *cobra.Command {
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys: kid, alg, state, created, activated, retired, verify_until, next rotation",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote() {
				return a.remoteListKeys(cmd.Context(), listJSON)
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				if err := listKeys(cmd.Context(), cfg, s, a.stdout, listJSON, a.now()); err != nil {
					return storeError(err)
				}
				return nil
			})
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	return list
}

func newKeysRotateCmd(a *app) *cobra.Command {
	var now bool
	var rotReason string
	rotate := &cobra.Command{
		Use:   "rotate [--now]",
		Short: "Promote each next key (only once pre-published, unless --now)",
		Long: `Promote each algorithm's next key to active and pre-publish a new next key.
Without --now a next key is promoted only once it has been published for
keys.prepublish, and the command says when that will be. With --now it is
promoted at once: resource servers whose JWKS cache predates the next key
will reject new tokens until they refetch.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote() {
				return a.remoteRotate(cmd.Context(), now, rotReason)
			}
			return a.withKeyRotator(cmd.Context(), func(cfg configs.Config, rot *keys.Rotator) error {
				if now {
					fmt.Fprintln(a.stderr, "warning: --now promotes keys that resource servers may not have fetched yet; tokens signed with them may be rejected until their JWKS caches refresh (up to jwks.max_age)")
				}
				res, err := rot.Rotate(cmd.Context(), a.now(), now, operator(), rotReason)
				if err != nil {
					return failure(err)
				}
				printResult(a.stdout, res)
				for alg, at := range res.Waiting {
					fmt.Fprintf(a.stdout, "%s: next key not published long enough; rotation possible at %s (in %s), or use --now\n",
						alg, at.UTC().Format(time.RFC3339), at.Sub(a.now()).Round(time.Second))
				}
				if !res.Changed && len(res.Waiting) == 0 {
					fmt.Fprintln(a.stdout, "nothing to rotate")
				}
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&now, "now", false, "promote at once, even if caches may not have the next key (emergency)")
	rotate.Flags().StringVar(&rotReason, "reason", "", "why, for the audit trail")
	return rotate
}

func newKeysRevokeCmd(a *app) *cobra.Command {
	var revReason, kidFlag string
	revoke := &cobra.Command{
		Use:   "revoke --reason TEXT (--kid KID | [--] KID)",
		Short: "Remove a key from the JWKS at once and replace it if it was active",
		Long: `Remove a key from the JWKS at once, erase its private part, and promote a
replacement if it was active. Name the key with --kid KID or as the KID
argument, not both. A kid is base64url and may begin with "-": --kid takes
it as it is (sigil keys revoke --kid -Y9GW... --reason "leaked"); as an
argument put "--" before it (sigil keys revoke --reason "leaked" -- -Y9GW...).`,
		Example: `  sigil keys revoke --kid -Y9GWiJObxrwcYMXFABUR48zQR3Cs-E0D1UuP4VL8uw --reason "leaked in a support ticket"
  sigil keys revoke --reason "leaked in a support ticket" -- -Y9GWiJObxrwcYMXFABUR48zQR3Cs-E0D1UuP4VL8uw`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes one KID, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kid, err := revokeKID(cmd, args, kidFlag)
			if err != nil {
				return err
			}
			if strings.TrimSpace(revReason) == "" {
				return usagef("--reason is required (it goes into the audit trail)")
			}
			if a.remote() {
				return a.remoteRevoke(cmd.Context(), kid, revReason)
			}
			return a.withKeyRotator(cmd.Context(), func(cfg configs.Config, rot *keys.Rotator) error {
				res, err := rot.Revoke(cmd.Context(), a.now(), kid, operator(), revReason)
				if errors.Is(err, keys.ErrUnknownKey) {
					return usagef("no key with kid %q", kid)
				}
				if err != nil {
					return failure(err)
				}
				if !res.Changed {
					fmt.Fprintf(a.stdout, "key %s was already revoked\n", kid)
					return nil
				}
				printResult(a.stdout, res)
				fmt.Fprintf(a.stdout, "revoked %s; every replica drops it from the JWKS within %s\n", kid, cfg.Keys.ReconcileInterval)
				return nil
			})
		},
	}
	revoke.Flags().StringVar(&revReason, "reason", "", "why the key is revoked (required)")
	revoke.Flags().StringVar(&kidFlag, "kid", "", "the key to revoke, taken as it is even if it begins with \"-\" (instead of the KID argument)")
	return revoke
}

// revokeKID returns the kid `keys revoke` names: exactly one of --kid and
// the KID argument, not empty; anything else is bad input.
func revokeKID(cmd *cobra.Command, args []string, kidFlag string) (string, error) {
	byFlag := cmd.Flags().Changed("kid")
	switch {
	case byFlag && len(args) == 1:
		return "", usagef("give the kid once: as --kid KID or as the KID argument, not both")
	case !byFlag && len(args) == 0:
		return "", usagef("which key? give --kid KID (or the KID argument)")
	}
	kid := kidFlag
	if !byFlag {
		kid = args[0]
	}
	if kid == "" {
		return "", usagef("the kid is empty")
	}
	return kid, nil
}

func newKeysEventsCmd(a *app) *cobra.Command {
	var eventsJSON bool
	events := &cobra.Command{
		Use:   "events",
		Short: "Print the key audit trail",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote() {
				return a.remoteKeyEvents(cmd.Context(), eventsJSON)
			}
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				if err := listEvents(cmd.Context(), s, a.stdout, eventsJSON); err != nil {
					return storeError(err)
				}
				return nil
			})
		},
	}
	events.Flags().BoolVar(&eventsJSON, "json", false, "print JSON")
	return events
}

func newKeysRewrapCmd(a *app) *cobra.Command {
	var newKeyFile string
	rewrap := &cobra.Command{
		Use:   "rewrap --new-key-file FILE",
		Short: "Re-seal every private key under a new key-encryption key",
		Long: `Re-seal every stored private key under the key-encryption key in FILE (base64
of 32 bytes, mode 0600). First restart every replica, one by one, with the
new key as keys.encryption_key_file (or SIGIL_KEY_ENCRYPTION_KEY) and the old
one as keys.encryption_key_previous_file (or SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS),
then run this with the same settings.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.notRemote("keys rewrap"); err != nil {
				return err
			}
			if newKeyFile == "" {
				return usagef("--new-key-file is required")
			}
			kek, err := keys.ReadKEKFile(newKeyFile)
			if err != nil {
				return usageError(err)
			}
			newSealer, err := keys.NewSealer(kek)
			if err != nil {
				return usageError(err)
			}
			return a.withKeyRotator(cmd.Context(), func(cfg configs.Config, rot *keys.Rotator) error {
				res, err := rot.Rewrap(cmd.Context(), a.now(), newSealer, operator())
				if err != nil {
					return failure(err)
				}
				fmt.Fprintf(a.stdout, "re-sealed %d keys under %s; now set keys.encryption_key_file: %s (or SIGIL_KEY_ENCRYPTION_KEY) on every replica\n",
					len(res.Events), newSealer.ID(), newKeyFile)
				return nil
			})
		},
	}
	rewrap.Flags().StringVar(&newKeyFile, "new-key-file", "", "file holding the new key-encryption key")
	return rewrap
}

// withKeyRotator opens storage and the key-encryption key and runs fn with a
// rotator acting as the operator.
func (a *app) withKeyRotator(ctx context.Context, fn func(cfg configs.Config, rot *keys.Rotator) error) error {
	return a.withStore(ctx, func(cfg configs.Config, s storage.Store) error {
		sealer, err := loadSealer(cfg, a.getenv, true)
		if err != nil {
			return usageError(err)
		}
		logger := newLogger(configs.Log{Level: "warn", Format: "text"}, a.stderr)
		rot, _, err := newRotator(cfg, s, sealer, logger, keys.WithActor(operator()))
		if err != nil {
			return usageError(err)
		}
		return fn(cfg, rot)
	})
}
