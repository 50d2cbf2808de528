package mongo_test

import (
	"testing"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/conformance"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) storage.Store { return mongotest.NewStore(t) })
}
