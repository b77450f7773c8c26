package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store { return objstore.NewMemory() })
}

func TestLocalContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestCountingContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		return objstore.NewCounting(objstore.NewMemory())
	})
}

func TestLocalNoSyncContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewLocalNoSync(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// File-based stores refuse "a" next to "a/b"; Memory does too, so unit
// tests on it catch layouts that would fail on them.
func TestKeyConflictRefusedByFileLikeStores(t *testing.T) {
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]objstore.Store{"memory": objstore.NewMemory(), "local": local} {
		ctx := context.Background()
		if err := s.Put(ctx, "a/b/c", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "x", nil); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"a", "a/b", "x/y", "x/y/z"} {
			if err := s.Put(ctx, key, nil); !errors.Is(err, objstore.ErrKeyConflict) {
				t.Errorf("%s: Put(%q): %v, want ErrKeyConflict", name, key, err)
			}
		}
		// A sibling whose name merely starts the same is fine.
		for _, key := range []string{"a/bc", "ab", "x0", "a/b-c"} {
			if err := s.Put(ctx, key, nil); err != nil {
				t.Errorf("%s: Put(%q): %v", name, key, err)
			}
		}
	}
}
