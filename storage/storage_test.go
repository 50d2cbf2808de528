package storage

import (
	"context"
	"testing"
	"time"
)

func TestPasswordHashScheme(t *testing.T) {
	bcryptTail := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
	tests := []struct {
		name, hash, want string
	}{
		{"argon2id", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=19456,t=2,p=1"},
		{"argon2id other cost", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$a2V5", "$argon2id$v=19$m=65536,t=3,p=4"},
		{"phc without version", "$argon2id$m=19456,t=2,p=1$c2FsdA$a2V5", "$argon2id$m=19456,t=2,p=1"},
		{"bcrypt", "$2b$12$" + bcryptTail, "$2b$12"},
		{"bcrypt 2a", "$2a$04$" + bcryptTail, "$2a$04"},
		{"django pbkdf2", "pbkdf2_sha256$870000$salt$a2V5", "pbkdf2_sha256$870000"},
		{"unusable", "!unusable", "!unusable"},
		{"empty", "", ""},
		// Forms it does not know are their own scheme.
		{"django argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$a2V5", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$a2V5"},
		{"short bcrypt tail", "$2b$12$short", "$2b$12$short"},
		{"three fields", "sha1$salt$key", "sha1$salt$key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PasswordHashScheme(tc.hash); got != tc.want {
				t.Fatalf("PasswordHashScheme(%q) = %q, want %q", tc.hash, got, tc.want)
			}
		})
	}
}

func TestSharedCommit(t *testing.T) {
	shared := WithSharedCommit(context.Background())
	child, cancel := context.WithTimeout(shared, time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"plain context", context.Background(), false},
		{"marked", shared, true},
		{"derived from a marked one (a storage deadline)", child, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SharedCommit(tc.ctx); got != tc.want {
				t.Errorf("SharedCommit = %v, want %v", got, tc.want)
			}
		})
	}
}
