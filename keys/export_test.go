package keys

import (
	"context"
	"slices"

	"github.com/sigilauth/sigil/storage"
)

// NewMemStore gives the external tests of this package (package keys_test)
// the in-memory key-set store of the unit tests.
func NewMemStore() *memStore { return &memStore{} }

// ListKeyEvents returns the audit trail in append order.
func (m *memStore) ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events), nil
}
