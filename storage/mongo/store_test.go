package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/mongo"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

var base = time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)

func user(id, username string) storage.User {
	return storage.User{ID: id, Username: username, PasswordHash: "hash-" + id, CreatedAt: base}
}

// rawDoc returns the stored document with _id id of collection coll.
func rawDoc(t *testing.T, s *mongo.Store, coll, id string) bson.M {
	t.Helper()
	var m bson.M
	if err := mongo.Collection(s, coll).FindOne(t.Context(), bson.M{"_id": id}).Decode(&m); err != nil {
		t.Fatalf("find %s %q: %v", coll, id, err)
	}
	return m
}

// usernameOwner returns the user id the usernames document points at, or "".
func usernameOwner(t *testing.T, s *mongo.Store, username string) string {
	t.Helper()
	var m bson.M
	err := mongo.Collection(s, "usernames").FindOne(t.Context(), bson.M{"_id": username}).Decode(&m)
	if err != nil {
		return ""
	}
	return m["user_id"].(string)
}

func TestCreateUserAfterCrash(t *testing.T) {
	tests := []struct {
		name string
		// crash leaves the state a process that died inside CreateUser would.
		crash func(t *testing.T, s *mongo.Store)
		// create is then attempted for u2/ada.
		wantCreate error
		wantOwner  string // user id ada's username document must point at
		wantLookup string // user id GetUserByUsername("ada") must return, "" for ErrNotFound
	}{
		{
			name: "ClaimWithoutUser",
			crash: func(t *testing.T, s *mongo.Store) {
				insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "ghost"})
			},
			wantOwner: "u2", wantLookup: "u2",
		},
		{
			name: "ClaimBySameIDWithoutUser",
			crash: func(t *testing.T, s *mongo.Store) {
				insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "u2"})
			},
			wantOwner: "u2", wantLookup: "u2",
		},
		{
			name: "TakeoverDiedBeforeRepointing",
			crash: func(t *testing.T, s *mongo.Store) {
				// A taker inserted its user but died before repointing the
				// stale claim.
				insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "ghost"})
				insertRaw(t, s, "users", bson.M{"_id": "u1", "username": "ada", "password_hash": "h"})
			},
			wantCreate: storage.ErrDuplicate,
			wantOwner:  "u1", wantLookup: "u1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mongotest.NewStore(t)
			tc.crash(t, s)
			err := s.CreateUser(t.Context(), user("u2", "ada"))
			if !errors.Is(err, tc.wantCreate) || (tc.wantCreate == nil && err != nil) {
				t.Fatalf("CreateUser: got %v, want %v", err, tc.wantCreate)
			}
			if got := usernameOwner(t, s, "ada"); got != tc.wantOwner {
				t.Fatalf("username document points at %q, want %q", got, tc.wantOwner)
			}
			u, err := s.GetUserByUsername(t.Context(), "ada")
			if err != nil {
				t.Fatalf("GetUserByUsername: %v", err)
			}
			if u.ID != tc.wantLookup {
				t.Fatalf("GetUserByUsername returned %q, want %q", u.ID, tc.wantLookup)
			}
		})
	}
}

func TestGetUserByUsernameOrphanClaim(t *testing.T) {
	s := mongotest.NewStore(t)
	insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "ghost"})
	_, err := s.GetUserByUsername(t.Context(), "ada")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetUserByUsername of an orphaned claim: got %v, want ErrNotFound", err)
	}
}

func TestCreateUserOrphanRace(t *testing.T) {
	const n = 10
	s := mongotest.NewStore(t)
	insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "ghost"})
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan int)
	for i := range n {
		go func() {
			<-start
			errs[i] = s.CreateUser(context.Background(), user(fmt.Sprintf("u%d", i), "ada"))
			done <- i
		}()
	}
	close(start)
	for range n {
		<-done
	}
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner != "":
			t.Fatalf("two winners: %s and u%d", winner, i)
		case err == nil:
			winner = fmt.Sprintf("u%d", i)
		case !errors.Is(err, storage.ErrDuplicate):
			t.Fatalf("caller %d: %v, want ErrDuplicate", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no caller took the orphaned username over")
	}
	if got := usernameOwner(t, s, "ada"); got != winner {
		t.Fatalf("username document points at %q, want the winner %q", got, winner)
	}
	list, err := s.ListUsers(t.Context())
	if err != nil || len(list) != 1 || list[0].ID != winner {
		t.Fatalf("ListUsers = %v, %v; want only %s", list, err, winner)
	}
}

func insertRaw(t *testing.T, s *mongo.Store, coll string, doc bson.M) {
	t.Helper()
	if _, err := mongo.Collection(s, coll).InsertOne(t.Context(), doc); err != nil {
		t.Fatalf("insert into %s: %v", coll, err)
	}
}

func TestStoredDocuments(t *testing.T) {
	s := mongotest.NewStore(t)
	ctx := t.Context()
	u := user("u1", "ada")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := storage.Client{ID: "web", SecretHash: []byte{1, 2, 3}, CreatedAt: base}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, coll, id string
		present        []string
		absent         []string
	}{
		// json:"-" fields must still be persisted.
		{"UserKeepsPasswordHash", "users", "u1", []string{"password_hash", "username", "created_at"}, nil},
		{"ClientKeepsSecretHash", "clients", "web", []string{"secret_hash", "created_at"}, nil},
		// Zero times are not stored at all.
		{"UserZeroTimesAbsent", "users", "u1", nil, []string{"password_changed_at", "updated_at"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := rawDoc(t, s, tc.coll, tc.id)
			for _, f := range tc.present {
				if _, ok := doc[f]; !ok {
					t.Errorf("field %s missing from %v", f, doc)
				}
			}
			for _, f := range tc.absent {
				if _, ok := doc[f]; ok {
					t.Errorf("field %s stored in %v", f, doc)
				}
			}
		})
	}
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.PasswordChangedAt.IsZero() || !got.UpdatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("times did not round-trip: %+v", got)
	}
}

func TestDenyAccessTokenKeepsLatestExpiry(t *testing.T) {
	s := mongotest.NewStore(t)
	ctx := t.Context()
	steps := []struct {
		name    string
		expires time.Time
	}{
		{"First", base.Add(time.Hour)},
		{"Later", base.Add(2 * time.Hour)},
		{"Earlier", base.Add(time.Minute)},
	}
	for _, st := range steps {
		if err := s.DenyAccessToken(ctx, "jti", st.expires); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"BeforeLatest", base.Add(2*time.Hour - time.Millisecond), true},
		{"AtLatest", base.Add(2 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessTokenDenied(ctx, "jti", tc.now)
			if err != nil || got != tc.want {
				t.Fatalf("IsAccessTokenDenied = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestOpenIsIdempotentAndIndexes(t *testing.T) {
	uri := mongotest.URI(t)
	s := mongotest.NewStore(t)
	// A second Open of the same database (another replica) succeeds.
	s2, err := mongo.Open(t.Context(), uri, s.Database())
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s2.Close()

	for _, coll := range []string{"refresh_families", "denylist", "login_failures"} {
		t.Run(coll, func(t *testing.T) {
			cur, err := mongo.Collection(s, coll).Indexes().List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var specs []bson.M
			if err := cur.All(t.Context(), &specs); err != nil {
				t.Fatal(err)
			}
			for _, spec := range specs {
				if strings.HasPrefix(fmt.Sprint(spec["name"]), "expires_at") {
					return
				}
			}
			t.Fatalf("no expires_at index among %v", specs)
		})
	}
	err = s2.CreateUser(t.Context(), user("u1", "ada"))
	if err != nil {
		t.Fatal(err)
	}
	// The unique index on users.username rejects a second user document with
	// the same name even when it bypasses the usernames collection.
	_, err = mongo.Collection(s, "users").InsertOne(t.Context(), bson.M{"_id": "u2", "username": "ada"})
	if err == nil {
		t.Fatal("users.username is not unique")
	}
}

func TestOpenUnreachableHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "s3cr3t-Pa55"
	_, err := mongo.Open(ctx, "mongodb://sigil:"+secret+"@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300", "sigil")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error reveals the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error does not say which server is unreachable: %v", err)
	}
}

func TestURIHelpers(t *testing.T) {
	tests := []struct {
		name, uri, hosts, password string
	}{
		{"Plain", "mongodb://db:27017/sigil", "mongodb://db:27017", ""},
		{"Credentials", "mongodb://admin:s3cr3t@db1:27017,db2:27017/sigil?replicaSet=rs0", "mongodb://db1:27017,db2:27017", "s3cr3t"},
		{"Escaped", "mongodb://u:p%40ss%2Fw@db/", "mongodb://db", "p@ss/w"},
		{"UnescapedAt", "mongodb://u:p@ss@db/", "mongodb://db", "p@ss"},
		{"UnescapedSlash", "mongodb://u:p/ss@db/x", "mongodb://db", "p/ss"},
		{"UserOnly", "mongodb://u@db", "mongodb://db", ""},
		{"SRV", "mongodb+srv://u:pw@cluster.example.com/?tls=true", "mongodb+srv://cluster.example.com", "pw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mongo.URIHosts(tc.uri); got != tc.hosts {
				t.Errorf("uriHosts = %q, want %q", got, tc.hosts)
			}
			if got := mongo.URIPassword(tc.uri); got != tc.password {
				t.Errorf("uriPassword = %q, want %q", got, tc.password)
			}
		})
	}
}

// TestHashSchemeMigration checks the users written before hash_scheme
// existed: PasswordHashSamples already sees them, and the next Open (a
// replica of the new version starting) stores their scheme.
func TestHashSchemeMigration(t *testing.T) {
	uri := mongotest.URI(t)
	s := mongotest.NewStore(t)
	const old = "pbkdf2_sha256$870000$salt$a2V5"
	insertRaw(t, s, "usernames", bson.M{"_id": "ada", "user_id": "u1"})
	insertRaw(t, s, "users", bson.M{"_id": "u1", "username": "ada", "password_hash": old, "email_verified": false, "disabled": false})
	if err := s.CreateUser(t.Context(), user("u2", "grace")); err != nil {
		t.Fatal(err)
	}
	if got := rawDoc(t, s, "users", "u2")["hash_scheme"]; got != "hash-u2" {
		t.Fatalf("new user's hash_scheme = %v, want %q", got, "hash-u2")
	}
	samples, err := s.PasswordHashSamples(t.Context())
	if err != nil || !slices.Contains(samples, old) || !slices.Contains(samples, "hash-u2") {
		t.Fatalf("PasswordHashSamples before the migration = %q, %v; want both hashes", samples, err)
	}
	s2, err := mongo.Open(t.Context(), uri, s.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := rawDoc(t, s, "users", "u1")["hash_scheme"]; got != "pbkdf2_sha256$870000" {
		t.Fatalf("migrated hash_scheme = %v, want pbkdf2_sha256$870000", got)
	}
	samples, err = s2.PasswordHashSamples(t.Context())
	if err != nil || len(samples) != 2 {
		t.Fatalf("PasswordHashSamples after the migration = %q, %v; want one per scheme", samples, err)
	}
	// The migrated user still logs in as before.
	a, err := s2.AdmitLogin(t.Context(), "ada", base, time.Hour, nil)
	if err != nil || !a.Found || a.User.PasswordHash != old || !a.Admitted {
		t.Fatalf("AdmitLogin of the migrated user = %+v, %v", a, err)
	}
}
