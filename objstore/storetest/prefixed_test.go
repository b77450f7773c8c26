package storetest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestPrefixedContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		inner := objstore.NewMemory()
		// A neighbour whose keys share the prefix string but not the directory.
		if err := inner.Put(t.Context(), "exports/ab/x", []byte("neighbour")); err != nil {
			t.Fatal(err)
		}
		return storetest.NewPrefixed(inner, "exports/a")
	})
}

func TestPrefixedLocalContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		inner, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return storetest.NewPrefixed(inner, "/exports/team-a/")
	})
}

func ExampleNewPrefixed() {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	teamA := storetest.NewPrefixed(bucket, "exports/team-a")
	_ = teamA.Put(ctx, "wal/00000000000000000001.sst", []byte("w"))
	page, _ := bucket.List(ctx, "", objstore.ListOptions{})
	fmt.Println(page.Objects[0].Key)
	page, _ = teamA.List(ctx, "wal/", objstore.ListOptions{})
	fmt.Println(page.Objects[0].Key)
	// Output:
	// exports/team-a/wal/00000000000000000001.sst
	// wal/00000000000000000001.sst
}
