// Package audittest checks a key audit trail against the key set it
// describes. It imports nothing of the keys package, so the keys unit tests
// and the black-box tests share it.
package audittest

import (
	"fmt"

	"github.com/sigilauth/sigil/storage"
)

// CheckAudit checks that the audit trail events records every transition of
// the key set set exactly once: no event ID twice, no event left pending in
// the record, and for each key the events form one unbroken chain of
// transitions from creation ("" to its first state) to its state in set, or
// back to "" for a key no longer in set. A lost event breaks a chain; a
// duplicated one leaves an event off it. Rewrap events (state unchanged) are
// not part of a chain but count for uniqueness.
func CheckAudit(set storage.KeySet, events []storage.KeyEvent) error {
	if len(set.PendingEvents) > 0 {
		return fmt.Errorf("%d audit events still pending in key set version %d", len(set.PendingEvents), set.Version)
	}
	seen := map[string]bool{}
	byKID := map[string][]storage.KeyEvent{}
	for _, e := range events {
		if seen[e.ID] {
			return fmt.Errorf("audit event %s (%s %s) recorded twice", e.ID, e.Action, e.KID)
		}
		seen[e.ID] = true
		if e.From == e.To {
			continue
		}
		byKID[e.KID] = append(byKID[e.KID], e)
	}
	final := map[string]storage.KeyState{}
	for _, k := range set.Keys {
		final[k.KID] = k.State
		if len(byKID[k.KID]) == 0 {
			return fmt.Errorf("key %s (%s) has no audit event", k.KID, k.State)
		}
	}
	for kid, evs := range byKID {
		used := make([]bool, len(evs))
		state, walked := storage.KeyState(""), 0
		for {
			step := -1
			for i, e := range evs {
				if !used[i] && e.From == state {
					if step >= 0 {
						return fmt.Errorf("key %s: two audit events leave state %q", kid, state)
					}
					step = i
				}
			}
			if step < 0 || (walked > 0 && state == "") {
				break
			}
			used[step] = true
			state = evs[step].To
			walked++
		}
		if walked != len(evs) {
			return fmt.Errorf("key %s: audit events do not form one chain of transitions: %+v", kid, evs)
		}
		if want := final[kid]; state != want {
			return fmt.Errorf("key %s: audit trail ends in %q, key set says %q", kid, state, want)
		}
	}
	return nil
}
