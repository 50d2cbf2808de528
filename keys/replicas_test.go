package keys_test

import (
	"testing"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/keys/keystest"
)

// TestReplicasRace fires three replicas on one in-memory store together many
// times and checks that every due rotation happened exactly once (the same
// race tests/keys_replicas_test.go runs on bolt and MongoDB).
func TestReplicasRace(t *testing.T) {
	store := keys.NewMemStore()
	keystest.ReplicaRace(t, store, 100, store, store, store)
}
