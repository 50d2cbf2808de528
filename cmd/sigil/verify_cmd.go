package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/oauth/verify"
)

// newVerifyCmd builds `sigil verify`: it verifies an access token the way a
// resource server using oauth/verify would (discovery, JWKS, every rule of
// Verify), prints its header and claims, and says whether it is valid.
// Exit status: 0 valid; 2 invalid token or bad input; 1 when the issuer's
// discovery document or JWKS cannot be fetched.
func newVerifyCmd(a *app) *cobra.Command {
	var issuer, audience string
	var skipAudience bool
	cmd := &cobra.Command{
		Use:   "verify [--issuer URL] (--audience A | --skip-audience) [TOKEN | -]",
		Short: "Verify an access token as a resource server would, and print its header and claims",
		Long: `Verify an access token offline, as a resource server using oauth/verify does:
read the issuer's discovery document and JWKS, then check the signature, typ
(at+jwt), alg, iss, aud, exp, nbf and iat. The header and claims are printed
(decoded, even when the token is invalid; never the signature), then "valid"
or the reason it is not.

The token is the argument, or the first line of stdin when the argument is
"-" or absent (which keeps it out of shell history and process listings).
--issuer defaults to the configured issuer. --audience is required unless
--skip-audience says not to check aud.

Exit status: 0 valid, 2 invalid (or bad input), 1 when the issuer cannot be
reached.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one token, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if audience == "" && !skipAudience {
				return usagef("verify: give --audience, or --skip-audience to accept any aud")
			}
			if audience != "" && skipAudience {
				return usagef("verify: --audience and --skip-audience are mutually exclusive")
			}
			if issuer == "" {
				cfg, err := a.config()
				if err != nil {
					return err
				}
				issuer = cfg.Issuer
			}
			token := ""
			if len(args) == 1 && args[0] != "-" {
				token = args[0]
			} else {
				var err error
				if token, err = readToken(a.stdin); err != nil {
					return err
				}
			}
			printToken(a.stdout, token)

			opts := []verify.Option{verify.WithClock(a.now), verify.WithCacheSize(0)}
			if skipAudience {
				opts = append(opts, verify.SkipAudienceCheck())
			} else {
				opts = append(opts, verify.WithAudience(audience))
			}
			v, err := verify.New(cmd.Context(), issuer, opts...)
			if err != nil {
				return failure(err)
			}
			claims, err := v.Verify(cmd.Context(), token)
			switch {
			case errors.Is(err, verify.ErrKeySetUnavailable):
				return failure(fmt.Errorf("cannot verify: %w", err))
			case err != nil:
				fmt.Fprintf(a.stdout, "invalid: %v\n", err)
				return usageError(fmt.Errorf("invalid token: %w", err))
			}
			left := claims.Expiry.Sub(a.now()).Round(time.Second)
			fmt.Fprintf(a.stdout, "valid: issuer %s, key %s, expires %s (in %s)\n",
				claims.Issuer, claims.KeyID, claims.Expiry.UTC().Format(time.RFC3339), left)
			return nil
		},
	}
	cmd.Flags().StringVar(&issuer, "issuer", "", "issuer URL, exactly as in the token's iss (default: the configured issuer)")
	cmd.Flags().StringVar(&audience, "audience", "", "audience the token's aud must contain")
	cmd.Flags().BoolVar(&skipAudience, "skip-audience", false, "do not check aud (insecure for a real resource server)")
	return cmd
}

// readToken reads the first line of r as a token. An empty line, or one
// longer than verify.MaxTokenSize, is bad input.
func readToken(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, verify.MaxTokenSize+3))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", failure(fmt.Errorf("read token from stdin: %w", err))
	}
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return "", usagef("verify: no token (give it as the argument or on stdin)")
	case len(line) > verify.MaxTokenSize:
		return "", usagef("verify: token on stdin is longer than %d bytes", verify.MaxTokenSize)
	}
	return line, nil
}

// printToken prints the decoded, unverified header and claims of a compact
// JWS, or why they cannot be shown. It never prints the signature.
func printToken(w io.Writer, token string) {
	if len(token) > verify.MaxTokenSize {
		fmt.Fprintf(w, "token: %d bytes, over the %d-byte limit; not decoded\n", len(token), verify.MaxTokenSize)
		return
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		fmt.Fprintf(w, "token: %d dot-separated parts, want 3 (header.claims.signature); not decoded\n", len(parts))
		return
	}
	for i, name := range []string{"header", "claims"} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			fmt.Fprintf(w, "%s: not base64url\n", name)
			continue
		}
		var out bytes.Buffer
		if err := json.Indent(&out, data, "", "  "); err != nil {
			fmt.Fprintf(w, "%s: not JSON\n", name)
			continue
		}
		fmt.Fprintf(w, "%s (unverified):\n%s\n", name, out.String())
	}
}
