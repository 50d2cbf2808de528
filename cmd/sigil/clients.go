package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

func newClientsCmd(a *app) *cobra.Command {
	cmd := groupCmd("clients", "Manage OAuth clients (on storage directly, or on a running server with --server)")
	addServerFlag(a, cmd)
	cmd.AddCommand(
		newClientsAddCmd(a),
		newClientsListCmd(a),
		newClientsDeleteCmd(a),
		newClientsRotateSecretCmd(a),
	)
	return cmd
}

func newClientsAddCmd(a *app) *cobra.Command {
	var (
		secretStdin, public, firstParty bool
		introspectAny                   bool
		grants, scopes                  []string
		audiences                       []string
		redirectURIs, postLogoutURIs    []string
		name, signingAlg, backchannel   string
	)
	cmd := &cobra.Command{
		Use:   "add ID [--secret-stdin | --public] --grants g1,g2 --scopes s1,s2 [--audience A]... [--name N] [--signing-alg ES256|RS256] [--redirect-uri URI]... [--post-logout-redirect-uri URI]... [--backchannel-logout-uri URI] [--first-party]",
		Short: "Register a client",
		Long: `Register an OAuth client.

A confidential client gets a generated secret (32 random bytes, base64url),
printed once on stdout: store it then, it cannot be shown again. With
--secret-stdin the secret is read from the first line of stdin instead and
must have at least 32 characters. A --public client has no secret and may
not use client_credentials. Only the SHA-256 of a secret is stored.

Grants: authorization_code, password, refresh_token, client_credentials.

A client with authorization_code (single sign-on in the browser) needs at
least one --redirect-uri: absolute, without a fragment, and https except for
loopback hosts (127.0.0.1, [::1], localhost) and private-use schemes of
native apps such as com.example.app:/callback (RFC 8252). The authorization
request must name one of them exactly. --post-logout-redirect-uri lists
where RP-initiated logout may send the browser back to, and
--backchannel-logout-uri receives logout tokens when a session ends.
--first-party skips the consent page; --name is shown on the login and
consent pages. --introspect-any lets the client introspect every token, not
only those issued to it or for its audience; the audit entry of the
registration says so (also with --server, through the admin API).`,
		Example: `  sigil clients add web --grants password,refresh_token --scopes openid,profile --audience https://api.example.com
  sigil clients add cli --public --grants password,refresh_token --scopes openid
  sigil clients add notes --name "Acme Notes" --grants authorization_code,refresh_token --scopes openid,profile \
      --redirect-uri https://notes.example.com/callback --post-logout-redirect-uri https://notes.example.com/ --first-party`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			c := storage.Client{
				ID:              id,
				Name:            name,
				Public:          public,
				Grants:          dedupe(splitCommas(grants)),
				Scopes:          dedupe(splitCommas(scopes)),
				Audiences:       dedupe(audiences),
				TokenSigningAlg: signingAlg,

				RedirectURIs:           dedupe(splitCommas(redirectURIs)),
				PostLogoutRedirectURIs: dedupe(splitCommas(postLogoutURIs)),
				BackchannelLogoutURI:   strings.TrimSpace(backchannel),
				FirstParty:             firstParty,
				IntrospectAny:          introspectAny,
			}
			if secretStdin && public {
				return usagef("--secret-stdin and --public are mutually exclusive")
			}
			if secretStdin && a.remote() {
				return usagef("--secret-stdin is not available with --server: the server generates the secret")
			}
			if err := validClient(c); err != nil {
				return err
			}
			if a.remote() {
				ac, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var out web.APIClient
				err = ac.do(cmd.Context(), http.MethodPost, "/clients", web.APINewClient{ID: c.ID, Name: c.Name, Public: c.Public,
					FirstParty: c.FirstParty, IntrospectAny: c.IntrospectAny, Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences,
					RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
					BackchannelLogoutURI: c.BackchannelLogoutURI, TokenSigningAlg: c.TokenSigningAlg}, &out)
				if err != nil {
					return err
				}
				return a.printNewClient(id, public, out.ClientSecret)
			}
			// Check the algorithm against the configuration before reading
			// any secret.
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if c.TokenSigningAlg != "" && !slices.Contains(cfg.Keys.Algorithms, c.TokenSigningAlg) {
				return usagef("--signing-alg %s is not in keys.algorithms (%s)", c.TokenSigningAlg, strings.Join(cfg.Keys.Algorithms, ", "))
			}
			secret := ""
			if secretStdin {
				if secret, err = readSecretLine(a.stdin, "client secret"); err != nil {
					return err
				}
			}
			return a.withConfiguredStore(cmd.Context(), cfg, func(_ configs.Config, s storage.Store) error {
				_, generated, err := localAdmin(cfg, s, a.now).AddClient(cmd.Context(), operator(), c, secret)
				if err != nil {
					return adminFailure(err)
				}
				if secretStdin {
					generated = ""
				}
				return a.printNewClient(id, public, generated)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the client secret (at least 32 characters) from the first line of stdin")
	f.BoolVar(&public, "public", false, "a public client: no secret, authenticates with its id only")
	f.StringArrayVar(&grants, "grants", nil, "grant types the client may use, comma-separated or repeated: "+strings.Join(oauth.Grants(), ", "))
	f.StringArrayVar(&scopes, "scopes", nil, "scopes the client may request, comma-separated or repeated")
	f.StringArrayVar(&audiences, "audience", nil, "aud value of its access tokens (repeatable)")
	f.StringVar(&name, "name", "", "display name")
	f.StringVar(&signingAlg, "signing-alg", "", "token signing algorithm, ES256 or RS256 (default: the first of keys.algorithms)")
	f.StringArrayVar(&redirectURIs, "redirect-uri", nil, "redirect URI of the authorization code flow, comma-separated or repeated (required with authorization_code)")
	f.StringArrayVar(&postLogoutURIs, "post-logout-redirect-uri", nil, "where logout may return the browser (repeatable)")
	f.StringVar(&backchannel, "backchannel-logout-uri", "", "URL that receives back-channel logout tokens")
	f.BoolVar(&firstParty, "first-party", false, "a first-party app: no consent page")
	f.BoolVar(&introspectAny, "introspect-any", false, "may introspect any token (without it, a client introspects only tokens issued to it or for its audience)")
	return cmd
}

// printNewClient reports a created client and, once, its generated secret.
func (a *app) printNewClient(id string, public bool, generated string) error {
	kind := "confidential"
	if public {
		kind = "public"
	}
	if _, err := fmt.Fprintf(a.stdout, "%s client %q created\n", kind, id); err != nil {
		return failure(err)
	}
	if generated != "" {
		_, err := fmt.Fprintf(a.stdout, "client_secret: %s\nStore this secret now: it is shown only once and cannot be recovered.\n", generated)
		return failure(err)
	}
	return nil
}

func newClientsListCmd(a *app) *cobra.Command {
	return newListCmd(a, "List clients (never their secret hashes)", "clients",
		storage.Store.ListClients, clientsView, writeClientsTable, "/clients", writeRemoteClientsTable)
}

func newClientsDeleteCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "delete ID [--reason R]",
		Short: "Delete a client; its tokens stop refreshing",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodDelete, adminPath("/clients/%s", id), map[string]string{"reason": reason}, nil); err != nil {
					return err
				}
			} else {
				err := a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
					return adminFailure(localAdmin(cfg, s, a.now).DeleteClient(cmd.Context(), operator(), id, reason))
				})
				if err != nil {
					return err
				}
			}
			_, err := fmt.Fprintf(a.stdout, "client %q deleted\n", id)
			return failure(err)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

func newClientsRotateSecretCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a confidential client a new generated secret (the old one stops working at once)",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			var secret string
			if a.remote() {
				c, err := a.adminClient(cmd.Context())
				if err != nil {
					return err
				}
				var out web.APISecret
				if err := c.do(cmd.Context(), http.MethodPost, adminPath("/clients/%s/secret", id), nil, &out); err != nil {
					return err
				}
				secret = out.ClientSecret
			} else {
				err := a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
					var err error
					secret, err = localAdmin(cfg, s, a.now).RotateClientSecret(cmd.Context(), operator(), id)
					return adminFailure(err)
				})
				if err != nil {
					return err
				}
			}
			_, err := fmt.Fprintf(a.stdout, "client_secret: %s\nStore this secret now: it is shown only once and cannot be recovered.\n", secret)
			return failure(err)
		},
	}
}

// validClient checks everything about c that needs no storage: the flags
// the CLI requires, then the record rules shared with the rest of Sigil.
func validClient(c storage.Client) error {
	if len(c.Grants) == 0 {
		return usagef("--grants is required (one or more of %s)", strings.Join(oauth.Grants(), ", "))
	}
	if len(c.Scopes) == 0 {
		return usagef("--scopes is required (one or more scope names)")
	}
	return usageError(oauth.ValidateClient(c))
}

// splitCommas splits every value at commas: "--scopes a,b --scopes c" gives
// a, b, c.
func splitCommas(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.Split(v, ",")...)
	}
	return out
}

// dedupe trims items and removes repeats, keeping the first occurrence.
// Empty items are kept so validation can reject them.
func dedupe(items []string) []string {
	var out []string
	for _, it := range items {
		it = strings.TrimSpace(it)
		if !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	return out
}

// clientView is the JSON form of a client in listings: never the secret
// hash.
type clientView struct {
	ID              string    `json:"id"`
	Name            string    `json:"name,omitempty"`
	Public          bool      `json:"public"`
	Grants          []string  `json:"grants"`
	Scopes          []string  `json:"scopes"`
	Audiences       []string  `json:"audiences"`
	TokenSigningAlg string    `json:"token_signing_alg,omitempty"`
	CreatedAt       time.Time `json:"created_at"`

	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	FirstParty             bool     `json:"first_party"`
	IntrospectAny          bool     `json:"introspect_any"`
}

func clientsView(clients []storage.Client) []clientView {
	out := make([]clientView, 0, len(clients))
	for _, c := range clients {
		out = append(out, clientView{
			ID:              c.ID,
			Name:            c.Name,
			Public:          c.Public,
			Grants:          nonNil(c.Grants),
			Scopes:          nonNil(c.Scopes),
			Audiences:       nonNil(c.Audiences),
			TokenSigningAlg: c.TokenSigningAlg,
			CreatedAt:       c.CreatedAt.UTC(),

			RedirectURIs:           nonNil(c.RedirectURIs),
			PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
			BackchannelLogoutURI:   c.BackchannelLogoutURI,
			FirstParty:             c.FirstParty,
			IntrospectAny:          c.IntrospectAny,
		})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeClientsTable(a *app, clients []storage.Client) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tGRANTS\tSCOPES\tAUDIENCES\tALG\tCREATED")
	for _, c := range clients {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, dashIfEmpty(c.Name), kind,
			dashIfEmpty(strings.Join(c.Grants, ",")), dashIfEmpty(strings.Join(c.Scopes, ",")), dashIfEmpty(strings.Join(c.Audiences, ",")),
			dashIfEmpty(c.TokenSigningAlg), c.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeRemoteClientsTable(a *app, clients []web.APIClient) error {
	cs := make([]storage.Client, 0, len(clients))
	for _, c := range clients {
		cs = append(cs, storage.Client{ID: c.ID, Name: c.Name, Public: c.Public, Grants: c.Grants, Scopes: c.Scopes,
			Audiences: c.Audiences, TokenSigningAlg: c.TokenSigningAlg, CreatedAt: c.CreatedAt})
	}
	return writeClientsTable(a, cs)
}
