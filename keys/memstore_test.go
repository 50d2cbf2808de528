package keys

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/sigilauth/sigil/storage"
)

// memStore is an in-memory KeySetStore for unit tests. failAfter > 0 makes
// every write after the first failAfter writes fail, simulating a crash.
type memStore struct {
	mu        sync.Mutex
	set       storage.KeySet
	has       bool
	events    []storage.KeyEvent
	writes    int
	failAfter int
	// committed holds every audit event ever committed as pending in a
	// key-set swap, by ID: the transitions that really happened.
	committed map[string]storage.KeyEvent
}

var errCrash = errors.New("injected crash")

func (m *memStore) GetKeySet(ctx context.Context) (storage.KeySet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.has {
		return storage.KeySet{}, storage.ErrNotFound
	}
	s := m.set
	s.Keys = slices.Clone(s.Keys)
	s.PendingEvents = slices.Clone(s.PendingEvents)
	return s, nil
}

func (m *memStore) write() error {
	if m.failAfter > 0 && m.writes >= m.failAfter {
		return errCrash
	}
	m.writes++
	return nil
}

func (m *memStore) CompareAndSwapKeySet(ctx context.Context, old int64, next storage.KeySet) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set.Version != old {
		return 0, storage.ErrConflict
	}
	if err := m.write(); err != nil {
		return 0, err
	}
	next.Version = old + 1
	next.Keys = slices.Clone(next.Keys)
	next.PendingEvents = slices.Clone(next.PendingEvents)
	if m.committed == nil {
		m.committed = map[string]storage.KeyEvent{}
	}
	for _, e := range next.PendingEvents {
		m.committed[e.ID] = e
	}
	m.set, m.has = next, true
	return next.Version, nil
}

func (m *memStore) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.write(); err != nil {
		return err
	}
	if slices.ContainsFunc(m.events, func(x storage.KeyEvent) bool { return x.ID == e.ID }) {
		return storage.ErrDuplicate
	}
	m.events = append(m.events, e)
	return nil
}
