package conformance

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var clientTests = []subtest{
	{"CreateGet", testClientCreateGet},
	{"ListOrderedByID", testClientList},
	{"Delete", testClientDelete},
	{"Duplicate", testClientDuplicate},
	{"Copies", testClientCopies},
	{"SetSecret", testClientSetSecret},
}

func testClientSetSecret(t *testing.T, s storage.Store) {
	c := newClient("c1")
	must(t, "CreateClient", s.CreateClient(ctx(t), c))
	must(t, "SetClientSecret", s.SetClientSecret(ctx(t), "c1", []byte("new-hash")))
	got, err := s.GetClient(ctx(t), "c1")
	must(t, "GetClient", err)
	want := c
	want.SecretHash = []byte("new-hash")
	wantEqual(t, "client after SetClientSecret", want, got)
	wantErr(t, "SetClientSecret of an absent client", s.SetClientSecret(ctx(t), "nobody", []byte("x")), storage.ErrNotFound)
}

// newClient returns a confidential client with every field set.
func newClient(id string) storage.Client {
	sum := sha256.Sum256([]byte("secret-of-" + id))
	return storage.Client{
		ID:              id,
		Name:            "Client " + id,
		SecretHash:      sum[:],
		Grants:          []string{"password", "refresh_token", "client_credentials"},
		Scopes:          []string{"openid", "profile", "email", "offline_access"},
		Audiences:       []string{"https://api.example.com", "https://other.example.com"},
		TokenSigningAlg: "RS256",
		CreatedAt:       at(-time.Hour),

		RedirectURIs:           []string{"https://" + id + ".example.com/cb", "http://127.0.0.1/cb", "com.example.app:/cb"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.com/bye"},
		BackchannelLogoutURI:   "https://" + id + ".example.com/backchannel",
		FirstParty:             true,
		IntrospectAny:          true,
	}
}

func testClientCreateGet(t *testing.T, s storage.Store) {
	tests := []struct {
		name   string
		client storage.Client
	}{
		{"Confidential", newClient("web")},
		{"Public", storage.Client{
			ID:        "cli",
			Public:    true,
			Grants:    []string{"password"},
			Scopes:    []string{"openid"},
			CreatedAt: base,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateClient", s.CreateClient(ctx(t), tc.client))
			got, err := s.GetClient(ctx(t), tc.client.ID)
			must(t, "GetClient", err)
			wantEqual(t, "GetClient", tc.client, got)
			if !bytes.Equal(got.SecretHash, tc.client.SecretHash) {
				t.Fatalf("GetClient: secret hash not persisted")
			}
			wantUTC(t, "GetClient CreatedAt", got.CreatedAt)
		})
	}
	_, err := s.GetClient(ctx(t), "nobody")
	wantErr(t, "GetClient unknown", err, storage.ErrNotFound)
}

func testClientList(t *testing.T, s storage.Store) {
	got, err := s.ListClients(ctx(t))
	must(t, "ListClients on empty store", err)
	if len(got) != 0 {
		t.Fatalf("ListClients on empty store: got %d clients", len(got))
	}
	for _, id := range []string{"mobile", "api", "web", "cli"} {
		must(t, "CreateClient "+id, s.CreateClient(ctx(t), newClient(id)))
	}
	got, err = s.ListClients(ctx(t))
	must(t, "ListClients", err)
	want := []storage.Client{newClient("api"), newClient("cli"), newClient("mobile"), newClient("web")}
	wantEqual(t, "ListClients", want, got)
}

func testClientDelete(t *testing.T, s storage.Store) {
	must(t, "CreateClient a", s.CreateClient(ctx(t), newClient("a")))
	must(t, "CreateClient b", s.CreateClient(ctx(t), newClient("b")))
	must(t, "DeleteClient a", s.DeleteClient(ctx(t), "a"))

	_, err := s.GetClient(ctx(t), "a")
	wantErr(t, "GetClient after delete", err, storage.ErrNotFound)
	wantErr(t, "second DeleteClient", s.DeleteClient(ctx(t), "a"), storage.ErrNotFound)
	wantErr(t, "DeleteClient unknown", s.DeleteClient(ctx(t), "nobody"), storage.ErrNotFound)

	got, err := s.ListClients(ctx(t))
	must(t, "ListClients", err)
	wantEqual(t, "ListClients after delete", []storage.Client{newClient("b")}, got)

	// The ID can be registered again after deletion.
	must(t, "CreateClient a again", s.CreateClient(ctx(t), newClient("a")))
}

func testClientDuplicate(t *testing.T, s storage.Store) {
	orig := newClient("web")
	must(t, "CreateClient", s.CreateClient(ctx(t), orig))
	dup := storage.Client{ID: "web", Name: "Impostor", Public: true, Grants: []string{"password"}, CreatedAt: base}
	wantErr(t, "CreateClient duplicate", s.CreateClient(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.GetClient(ctx(t), "web")
	must(t, "GetClient", err)
	wantEqual(t, "original client after duplicate", orig, got)
}

func testClientCopies(t *testing.T, s storage.Store) {
	c := newClient("web")
	must(t, "CreateClient", s.CreateClient(ctx(t), c))
	// Mutating the caller's record after the create must not reach the store.
	c.Grants[0], c.Scopes[0], c.Audiences[0], c.SecretHash[0] = "x", "x", "x", c.SecretHash[0]^0xff
	c.RedirectURIs[0], c.PostLogoutRedirectURIs[0] = "x", "x"

	got, err := s.GetClient(ctx(t), "web")
	must(t, "GetClient", err)
	wantEqual(t, "client after mutating the created record", newClient("web"), got)

	got.Grants[0], got.Scopes[0], got.Audiences[0], got.SecretHash[0] = "y", "y", "y", got.SecretHash[0]^0xff
	got.RedirectURIs[0], got.PostLogoutRedirectURIs[0] = "y", "y"
	again, err := s.GetClient(ctx(t), "web")
	must(t, "GetClient", err)
	wantEqual(t, "client after mutating a returned record", newClient("web"), again)

	list, err := s.ListClients(ctx(t))
	must(t, "ListClients", err)
	list[0].Scopes[0] = "z"
	again, err = s.GetClient(ctx(t), "web")
	must(t, "GetClient", err)
	wantEqual(t, "client after mutating a listed record", newClient("web"), again)
}
