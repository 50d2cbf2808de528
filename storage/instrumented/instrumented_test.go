package instrumented

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

func newBolt(t *testing.T) storage.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestEveryMethodInstrumented calls every method of storage.Store through
// the wrapper with zero arguments and checks that each one was measured
// under its own name: a method added to storage.Store but not to
// methods.go is promoted from the embedded interface and fails here.
func TestEveryMethodInstrumented(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s, err := New(newBolt(t), Options{Backend: "bolt", Timeout: time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	it := reflect.TypeFor[storage.Store]()
	v := reflect.ValueOf(s)
	for i := range it.NumMethod() {
		m := it.Method(i)
		if m.Name == "Close" {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			fn := v.MethodByName(m.Name)
			args := make([]reflect.Value, fn.Type().NumIn())
			args[0] = reflect.ValueOf(context.Background())
			for j := 1; j < len(args); j++ {
				args[j] = reflect.Zero(fn.Type().In(j))
			}
			fn.Call(args)
			if got := testutil.CollectAndCount(s.seconds.WithLabelValues(m.Name, "bolt").(prometheus.Histogram)); got != 1 {
				t.Fatalf("%s: no observation (is it missing from methods.go?)", m.Name)
			}
		})
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

// slowStore blocks GetClient until its context ends.
type slowStore struct{ storage.Store }

func (slowStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	<-ctx.Done()
	return storage.Client{}, ctx.Err()
}

func (slowStore) GetUser(ctx context.Context, id string) (storage.User, error) {
	return storage.User{}, storage.ErrNotFound
}

func TestDeadlineAndErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(slowStore{}, Options{Backend: "mongo", Timeout: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.GetClient(context.Background(), "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetClient error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("GetClient took %s, want about the 50ms deadline", d)
	}
	if _, err := s.GetUser(context.Background(), "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetUser error = %v", err)
	}
	if got := testutil.ToFloat64(s.errs.WithLabelValues("GetClient", "mongo")); got != 1 {
		t.Errorf("errors{GetClient} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.errs.WithLabelValues("GetUser", "mongo")); got != 0 {
		t.Errorf("errors{GetUser} = %v, want 0 (not found is an answer, not a failure)", got)
	}
}
