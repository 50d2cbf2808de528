package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/sigilauth/sigil/web"
)

// The keys verbs with --server: the same output, through the admin API.

func optFmt(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *app) remoteListKeys(ctx context.Context, asJSON bool) error {
	c, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	var ks web.APIKeys
	if err := c.do(ctx, http.MethodGet, "/keys", nil, &ks); err != nil {
		return err
	}
	if asJSON {
		return failure(writeJSON(a, ks))
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tVERIFY UNTIL\tNEXT ROTATION")
	for _, alg := range ks.Algorithms {
		for _, k := range alg.Keys {
			next := "-"
			if k.State == "active" {
				next = optFmt(alg.NextRotation)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, optFmt(k.CreatedAt),
				optFmt(k.ActivatedAt), optFmt(k.RetiredAt), optFmt(k.VerifyUntil), next)
		}
	}
	return failure(tw.Flush())
}

func (a *app) remoteRotate(ctx context.Context, force bool, reason string) error {
	c, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	var out web.APIRotation
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/keys/rotate?force=%t", force), map[string]string{"reason": reason}, &out); err != nil {
		return err
	}
	for _, kid := range out.Promoted {
		fmt.Fprintf(a.stdout, "promoted %s\n", kid)
	}
	algs := make([]string, 0, len(out.Waiting))
	for alg := range out.Waiting {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	for _, alg := range algs {
		fmt.Fprintf(a.stdout, "%s: next key not published long enough; rotation possible at %s, or use --now\n", alg, out.Waiting[alg].UTC().Format(time.RFC3339))
	}
	if len(out.Promoted) == 0 && len(out.Waiting) == 0 {
		fmt.Fprintln(a.stdout, "nothing to rotate")
	}
	return nil
}

func (a *app) remoteRevoke(ctx context.Context, kid, reason string) error {
	c, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPost, "/keys/revoke", map[string]string{"kid": kid, "reason": reason}, nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "revoked %s; it has left the server's JWKS (other replicas drop it within keys.reconcile_interval)\n", kid)
	return failure(err)
}

// remoteKeyEvents prints the key audit trail, oldest first like the local
// verb, reading every page.
func (a *app) remoteKeyEvents(ctx context.Context, asJSON bool) error {
	c, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	var all []web.APIAuditEntry
	before := ""
	for {
		var page web.APIAuditPage
		path := "/keys/events?limit=200"
		if before != "" {
			path += "&before=" + url.QueryEscape(before)
		}
		if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		all = append(all, page.Entries...)
		if page.Next == "" || len(page.Entries) == 0 {
			break
		}
		before = page.Next
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	if asJSON {
		if all == nil {
			all = []web.APIAuditEntry{}
		}
		return failure(writeJSON(a, all))
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tKID\tACTOR\tREASON")
	for _, e := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Target, e.Actor, e.Reason)
	}
	return failure(tw.Flush())
}
