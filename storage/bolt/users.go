package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// errEmptyID is returned when a record's id (or a username) is empty; bbolt
// cannot store an empty key.
var errEmptyID = errors.New("empty id")

// get decodes the record stored under key in b into v and reports whether
// there was one.
func get(b *bbolt.Bucket, key string, v any) (bool, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	return true, decode(data, v)
}

// put encodes v and stores it under key in b.
func put(b *bbolt.Bucket, key string, v any) error {
	if key == "" {
		return errEmptyID
	}
	data, err := encode(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

// CreateUser stores u and indexes its username in one transaction.
// ErrDuplicate if u.ID or u.Username is taken; then nothing is written.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	return s.update(ctx, fmt.Sprintf("create user %q", u.ID), func(tx *bbolt.Tx) error {
		if u.ID == "" || u.Username == "" {
			return errEmptyID
		}
		users, names := tx.Bucket(bucketUsers), tx.Bucket(bucketUsernames)
		if users.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("user id: %w", storage.ErrDuplicate)
		}
		if names.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("username %q: %w", u.Username, storage.ErrDuplicate)
		}
		if err := put(users, u.ID, userToRecord(u)); err != nil {
			return err
		}
		return names.Put([]byte(u.Username), []byte(u.ID))
	})
}

// GetUser returns the user with the given ID, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	var r userRecord
	err := s.view(ctx, fmt.Sprintf("get user %q", id), func(tx *bbolt.Tx) error {
		return getUser(tx, id, &r)
	})
	if err != nil {
		return storage.User{}, err
	}
	return r.user(), nil
}

// getUser decodes the user id into r, or returns ErrNotFound.
func getUser(tx *bbolt.Tx, id string, r *userRecord) error {
	ok, err := get(tx.Bucket(bucketUsers), id, r)
	if err != nil {
		return err
	}
	if !ok {
		return storage.ErrNotFound
	}
	return nil
}

// GetUserByUsername looks username up in the index and returns its user, or
// ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	var r userRecord
	err := s.view(ctx, fmt.Sprintf("get user by username %q", username), func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if id == nil {
			return storage.ErrNotFound
		}
		if err := getUser(tx, string(id), &r); err != nil {
			return fmt.Errorf("username index points at user %q: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return storage.User{}, err
	}
	return r.user(), nil
}

// ListUsers returns every user ordered by username (byte order), read in
// one consistent snapshot.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	var out []storage.User
	err := s.view(ctx, "list users", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsernames).ForEach(func(_, id []byte) error {
			var r userRecord
			if err := getUser(tx, string(id), &r); err != nil {
				return fmt.Errorf("username index points at user %q: %w", id, err)
			}
			out = append(out, r.user())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// modifyUser applies fn to the stored user id in one transaction and stores
// the result unless fn fails. ErrNotFound if absent.
func (s *Store) modifyUser(ctx context.Context, op, id string, fn func(r *userRecord) error) error {
	return s.update(ctx, fmt.Sprintf("%s %q", op, id), func(tx *bbolt.Tx) error {
		var r userRecord
		if err := getUser(tx, id, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		return put(tx.Bucket(bucketUsers), id, r)
	})
}

// SetUserPassword replaces the password hash and sets PasswordChangedAt and
// UpdatedAt to changedAt. ErrNotFound if absent.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time) error {
	return s.modifyUser(ctx, "set password of user", id, func(r *userRecord) error {
		r.PasswordHash = hash
		r.PasswordChangedAt = utc(changedAt)
		r.UpdatedAt = utc(changedAt)
		return nil
	})
}

// RehashUserPassword replaces the hash only if it still equals oldHash, in
// one transaction; ErrConflict otherwise, ErrNotFound if absent.
// PasswordChangedAt and UpdatedAt are left alone.
func (s *Store) RehashUserPassword(ctx context.Context, id, oldHash, newHash string) error {
	return s.modifyUser(ctx, "rehash password of user", id, func(r *userRecord) error {
		if r.PasswordHash != oldHash {
			return fmt.Errorf("password hash changed: %w", storage.ErrConflict)
		}
		r.PasswordHash = newHash
		return nil
	})
}

// SetUserDisabled sets Disabled and UpdatedAt. ErrNotFound if absent.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.modifyUser(ctx, "set disabled of user", id, func(r *userRecord) error {
		r.Disabled = disabled
		r.UpdatedAt = utc(at)
		return nil
	})
}

// SetUserAdmin sets Admin and UpdatedAt. ErrNotFound if absent.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool, at time.Time) error {
	return s.modifyUser(ctx, "set admin of user", id, func(r *userRecord) error {
		r.Admin = admin
		r.UpdatedAt = utc(at)
		return nil
	})
}

// PasswordHashSamples scans the users in one read transaction and returns
// the first hash of each storage.PasswordHashScheme it meets.
func (s *Store) PasswordHashSamples(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(ctx, "sample password hashes", func(tx *bbolt.Tx) error {
		out = nil
		seen := make(map[string]bool)
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			if v == nil {
				return nil // a nested bucket, not a user
			}
			var r userRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if sc := storage.PasswordHashScheme(r.PasswordHash); !seen[sc] {
				seen[sc] = true
				out = append(out, r.PasswordHash)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
