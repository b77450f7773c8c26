package objstore_test

import (
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

func TestPrefixedContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		inner := objstore.NewMemory()
		// A neighbour whose keys share the prefix string but not the directory.
		if err := inner.Put(t.Context(), "exports/ab/x", []byte("neighbour")); err != nil {
			t.Fatal(err)
		}
		return objstore.NewPrefixed(inner, "exports/a")
	})
}

func TestPrefixedLocalContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		inner, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return objstore.NewPrefixed(inner, "/exports/team-a/")
	})
}

func TestCountingContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		return objstore.NewCounting(objstore.NewMemory())
	})
}

func TestLocalNoSyncContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		s, err := objstore.OpenLocal(t.TempDir(), objstore.LocalOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
