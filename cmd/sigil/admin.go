package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// This file wires the admin surfaces: web.AdminService over oauth.Admin
// (users, clients, audit) and *keys.Rotator (keys), web.AdminTokenVerifier
// over the token service, and web.ConsumerRecorder over storage. It only
// delegates and converts; the rules live in oauth.Admin and keys.

// replicaName names this process in audit entries, as the rotator does.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// adminStore is what adminService reads besides oauth.Admin and the rotator.
type adminStore interface {
	GetKeySet(ctx context.Context) (storage.KeySet, error)
	ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error)
	ListJWKSConsumers(ctx context.Context, now time.Time) ([]storage.JWKSConsumer, error)
}

// adminService implements web.AdminService.
type adminService struct {
	admin      *oauth.Admin
	rot        *keys.Rotator
	store      adminStore
	algorithms []string
	prepublish time.Duration
	maxAge     time.Duration
	now        func() time.Time
}

var _ web.AdminService = (*adminService)(nil)

// adminError converts an oauth.AdminError to a web.AdminError; other errors
// pass unchanged (server errors).
func adminError(err error) error {
	var ae *oauth.AdminError
	if !errors.As(err, &ae) {
		return err
	}
	kind := map[oauth.AdminErrorKind]web.AdminErrorKind{
		oauth.AdminInvalid: web.AdminInvalid, oauth.AdminNotFound: web.AdminNotFound, oauth.AdminConflict: web.AdminConflict,
	}[ae.Kind]
	return &web.AdminError{Kind: kind, Message: ae.Message}
}

func (s *adminService) Keys(ctx context.Context, now time.Time) (*web.KeyOverview, error) {
	set, err := s.keySet(ctx)
	if err != nil {
		return nil, err
	}
	evs, err := s.store.ListKeyEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("list key events: %w", err)
	}
	lastActor := map[string]string{}
	for _, e := range evs {
		lastActor[e.KID] = e.Actor
	}
	ov := &web.KeyOverview{Now: now, Prepublish: s.prepublish, MaxAge: s.maxAge}
	algs := slices.Clone(s.algorithms)
	for _, k := range set.Keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	for _, alg := range algs {
		ak := web.AlgorithmKeys{Alg: alg}
		if at, ok := s.rot.NextRotation(set, alg); ok {
			ak.NextRotation = at
		}
		for _, k := range set.Keys {
			if k.Alg != alg {
				continue
			}
			if k.State == storage.KeyNext {
				ak.NextPublishedAt = k.PublishedAt
			}
			ak.Keys = append(ak.Keys, web.KeyView{KID: k.KID, Alg: k.Alg, State: string(k.State),
				CreatedAt: k.CreatedAt, PublishedAt: k.PublishedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt,
				VerifyUntil: k.VerifyUntil, RevokedAt: k.RevokedAt, RevokeReason: k.RevokeReason, Actor: lastActor[k.KID]})
		}
		slices.SortStableFunc(ak.Keys, func(a, b web.KeyView) int { return a.CreatedAt.Compare(b.CreatedAt) })
		ov.Algorithms = append(ov.Algorithms, ak)
	}
	return ov, nil
}

func (s *adminService) keySet(ctx context.Context) (storage.KeySet, error) {
	set, err := s.store.GetKeySet(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.KeySet{}, nil
	}
	if err != nil {
		return storage.KeySet{}, fmt.Errorf("get key set: %w", err)
	}
	return set, nil
}

// RotateKeys applies the max_age rule (a next key published for less than
// jwks.max_age may be missing from caches; refused unless force), then has
// the rotator promote every next key at once, and audits the rotation.
func (s *adminService) RotateKeys(ctx context.Context, actor web.Actor, force bool, reason string) (*web.RotateOutcome, error) {
	now := s.now()
	set, err := s.keySet(ctx)
	if err != nil {
		return nil, err
	}
	if !force {
		for _, k := range set.Keys {
			if k.State != storage.KeyNext || !now.Before(k.PublishedAt.Add(s.maxAge)) {
				continue
			}
			return nil, &web.AdminError{Kind: web.AdminConflict, Message: fmt.Sprintf(
				"the next %s key %s was published at %s, less than jwks.max_age (%s) ago: caches that honour the JWKS headers may not have it yet; rotate after %s or force",
				k.Alg, k.KID, k.PublishedAt.UTC().Format(time.RFC3339), s.maxAge, k.PublishedAt.Add(s.maxAge).UTC().Format(time.RFC3339))}
		}
	}
	// The max_age rule above replaces the rotator's pre-publication wait,
	// so the rotator is asked to promote at once.
	res, err := s.rot.Rotate(ctx, now, true, actor.Username, reason)
	if err != nil {
		return nil, fmt.Errorf("rotate keys: %w", err)
	}
	out := &web.RotateOutcome{Waiting: res.Waiting}
	for _, e := range res.Events {
		if e.Action == "promote" {
			out.Promoted = append(out.Promoted, e.KID)
		}
	}
	if len(out.Promoted) > 0 {
		if err := s.admin.RecordKeyAction(ctx, actor.Username, "rotate", strings.Join(out.Promoted, ","), reason); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RevokeKey revokes kid through the rotator (which reloads this replica's
// ring, so the key leaves its JWKS at once) and audits it.
func (s *adminService) RevokeKey(ctx context.Context, actor web.Actor, kid, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return &web.AdminError{Kind: web.AdminInvalid, Message: "a reason is required (it goes into the audit trail)"}
	}
	res, err := s.rot.Revoke(ctx, s.now(), kid, actor.Username, reason)
	if errors.Is(err, keys.ErrUnknownKey) {
		return &web.AdminError{Kind: web.AdminNotFound, Message: fmt.Sprintf("no key with kid %q", kid)}
	}
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if !res.Changed {
		return nil // already revoked: nothing happened, nothing to audit
	}
	return s.admin.RecordKeyAction(ctx, actor.Username, "revoke", kid, reason)
}

func toUserView(u storage.User) web.UserView {
	return web.UserView{ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, Admin: u.Admin,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func (s *adminService) Users(ctx context.Context) ([]web.UserView, error) {
	users, err := s.admin.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.UserView, 0, len(users))
	for _, u := range users {
		out = append(out, toUserView(u))
	}
	return out, nil
}

func (s *adminService) AddUser(ctx context.Context, actor web.Actor, in web.NewUser) (web.UserView, error) {
	u, err := s.admin.AddUser(ctx, actor.Username, oauth.NewUser{Username: in.Username, Password: in.Password,
		Email: in.Email, Name: in.Name, Admin: in.Admin})
	if err != nil {
		return web.UserView{}, adminError(err)
	}
	return toUserView(u), nil
}

func (s *adminService) SetUserDisabled(ctx context.Context, actor web.Actor, username string, disabled bool, reason string) error {
	return adminError(s.admin.SetUserDisabled(ctx, actor.Username, username, disabled, reason))
}

func (s *adminService) SetUserPassword(ctx context.Context, actor web.Actor, username, password string) error {
	return adminError(s.admin.SetUserPassword(ctx, actor.Username, username, password))
}

func (s *adminService) SetUserAdmin(ctx context.Context, actor web.Actor, username string, admin bool) error {
	return adminError(s.admin.SetUserAdmin(ctx, actor.Username, username, admin))
}

func toClientView(c storage.Client) web.ClientView {
	return web.ClientView{ID: c.ID, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty, IntrospectAny: c.IntrospectAny,
		Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences, RedirectURIs: c.RedirectURIs,
		PostLogoutURIs: c.PostLogoutRedirectURIs, BackchannelLogoutURI: c.BackchannelLogoutURI,
		TokenSigningAlg: c.TokenSigningAlg, CreatedAt: c.CreatedAt}
}

func (s *adminService) Clients(ctx context.Context) ([]web.ClientView, error) {
	clients, err := s.admin.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.ClientView, 0, len(clients))
	for _, c := range clients {
		out = append(out, toClientView(c))
	}
	return out, nil
}

func (s *adminService) AddClient(ctx context.Context, actor web.Actor, in web.NewClient) (web.ClientView, string, error) {
	c, secret, err := s.admin.AddClient(ctx, actor.Username, storage.Client{ID: in.ID, Name: in.Name, Public: in.Public,
		FirstParty: in.FirstParty, IntrospectAny: in.IntrospectAny, Grants: in.Grants, Scopes: in.Scopes, Audiences: in.Audiences,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutURIs,
		BackchannelLogoutURI: in.BackchannelLogoutURI, TokenSigningAlg: in.TokenSigningAlg}, "")
	if err != nil {
		return web.ClientView{}, "", adminError(err)
	}
	return toClientView(c), secret, nil
}

func (s *adminService) DeleteClient(ctx context.Context, actor web.Actor, id, reason string) error {
	return adminError(s.admin.DeleteClient(ctx, actor.Username, id, reason))
}

func (s *adminService) RotateClientSecret(ctx context.Context, actor web.Actor, id string) (string, error) {
	secret, err := s.admin.RotateClientSecret(ctx, actor.Username, id)
	return secret, adminError(err)
}

func (s *adminService) Audit(ctx context.Context, q web.AuditQuery) (*web.AuditPage, error) {
	entries, next, err := s.admin.Audit(ctx, q.Kind, q.Before, q.Limit)
	if err != nil {
		return nil, adminError(err)
	}
	page := &web.AuditPage{Next: next}
	for _, e := range entries {
		page.Entries = append(page.Entries, web.AuditEntryView{ID: e.ID, Time: e.Time, Kind: e.Kind, Action: e.Action,
			Target: e.Target, Actor: e.Actor, Replica: e.Replica, Reason: e.Reason})
	}
	return page, nil
}

// Consumers lists the live JWKS consumers; a consumer has the next key when
// it fetched at or after the latest publication of a current next key.
func (s *adminService) Consumers(ctx context.Context, now time.Time) ([]web.ConsumerView, error) {
	set, err := s.keySet(ctx)
	if err != nil {
		return nil, err
	}
	var nextSince time.Time
	for _, k := range set.Keys {
		if k.State == storage.KeyNext && k.PublishedAt.After(nextSince) {
			nextSince = k.PublishedAt
		}
	}
	cs, err := s.store.ListJWKSConsumers(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("list jwks consumers: %w", err)
	}
	out := make([]web.ConsumerView, 0, len(cs))
	for _, c := range cs {
		out = append(out, web.ConsumerView{Address: c.Address, UserAgent: c.UserAgent, FirstSeen: c.FirstSeen,
			LastFetch: c.LastFetch, ETag: c.ETag, HasNextKey: !c.LastFetch.Before(nextSince)})
	}
	return out, nil
}

// adminTokens implements web.AdminTokenVerifier with the token service's
// own access-token checks (oauth.Service.AdminActor).
type adminTokens struct{ svc *oauth.Service }

var _ web.AdminTokenVerifier = adminTokens{}

func (a adminTokens) VerifyAdminToken(ctx context.Context, bearer string) (string, error) {
	actor, err := a.svc.AdminActor(ctx, bearer)
	switch {
	case errors.Is(err, oauth.ErrAdminTokenInvalid):
		return "", fmt.Errorf("%w: %w", web.ErrAdminUnauthenticated, err)
	case errors.Is(err, oauth.ErrAdminTokenForbidden):
		return "", fmt.Errorf("%w: %w", web.ErrAdminForbidden, err)
	}
	return actor, err
}

// Bounds of consumerRecorder.
const (
	consumerThrottle     = time.Minute
	consumerMemory       = 10000 // consumers remembered for throttling per replica
	consumerWriters      = 8     // concurrent background writes; beyond, fetches are dropped
	consumerWriteTimeout = 2 * time.Second
)

// consumerStore is what consumerRecorder writes to.
type consumerStore interface {
	RecordJWKSConsumer(ctx context.Context, c storage.JWKSConsumer, limit int) error
}

// consumerRecorder implements web.ConsumerRecorder: at most one write per
// consumer per minute per replica (a bounded in-memory map), written in the
// background with a short deadline; RecordFetch never blocks.
type consumerRecorder struct {
	store consumerStore
	ttl   time.Duration

	mu    sync.Mutex
	last  map[string]time.Time
	slots chan struct{}
	wg    sync.WaitGroup // tests wait for writes
}

var _ web.ConsumerRecorder = (*consumerRecorder)(nil)

func newConsumerRecorder(store consumerStore, ttl time.Duration) *consumerRecorder {
	return &consumerRecorder{store: store, ttl: ttl, last: map[string]time.Time{}, slots: make(chan struct{}, consumerWriters)}
}

// consumerID is the hex SHA-256 of the address and User-Agent.
func consumerID(addr, ua string) string {
	sum := sha256.Sum256([]byte(addr + "\x00" + ua))
	return hex.EncodeToString(sum[:16])
}

// truncateUA cuts a User-Agent to storage.MaxUserAgentLen bytes on a rune
// boundary.
func truncateUA(ua string) string {
	if len(ua) <= storage.MaxUserAgentLen {
		return ua
	}
	ua = ua[:storage.MaxUserAgentLen]
	for len(ua) > 0 && !utf8.ValidString(ua) {
		ua = ua[:len(ua)-1]
	}
	return ua
}

func (r *consumerRecorder) RecordFetch(addr netip.Addr, userAgent, etag string, now time.Time) {
	ua := truncateUA(userAgent)
	a := addr.String()
	id := consumerID(a, ua)
	r.mu.Lock()
	if t, ok := r.last[id]; ok && now.Sub(t) < consumerThrottle {
		r.mu.Unlock()
		return
	}
	if len(r.last) >= consumerMemory {
		for k, t := range r.last {
			if now.Sub(t) >= consumerThrottle {
				delete(r.last, k)
			}
		}
		if len(r.last) >= consumerMemory {
			r.mu.Unlock()
			return // full of recent consumers: drop
		}
	}
	select {
	case r.slots <- struct{}{}:
	default:
		r.mu.Unlock()
		return // too many writes in flight: drop, the next fetch retries
	}
	r.last[id] = now
	r.mu.Unlock()
	c := storage.JWKSConsumer{ID: id, Address: a, UserAgent: ua, FirstSeen: now, LastFetch: now, ETag: etag, ExpiresAt: now.Add(r.ttl)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), consumerWriteTimeout)
		defer cancel()
		_ = r.store.RecordJWKSConsumer(ctx, c, storage.MaxJWKSConsumers) // best effort: ErrFull and failures drop the record
	}()
}
