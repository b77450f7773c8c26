package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

func TestListAllFollowsPages(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	var want []string
	for i := range 2500 { // more than two default pages
		k := fmt.Sprintf("sst/%06d", i)
		want = append(want, k)
		if err := mem.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := mem.Put(ctx, "zzz", nil); err != nil {
		t.Fatal(err)
	}
	counting := objstore.NewCounting(mem)
	got, err := objstore.ListAll(ctx, counting, "sst/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListAll returned %d objects, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Key != want[i] {
			t.Fatalf("object %d = %q, want %q", i, got[i].Key, want[i])
		}
	}
	if n := counting.Stats()[objstore.OpList].Requests; n != 3 {
		t.Fatalf("ListAll made %d List calls, want 3", n)
	}
	// Stopping early stops listing.
	n := 0
	for _, err := range objstore.All(ctx, counting, "sst/") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 5 {
			break
		}
	}
	if calls := counting.Stats()[objstore.OpList].Requests; calls != 4 {
		t.Fatalf("early break: %d List calls in total, want 4", calls)
	}
}

func TestListAllError(t *testing.T) {
	f := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	f.FailNext(objstore.OpList, 1)
	if _, err := objstore.ListAll(context.Background(), f, ""); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("ListAll error = %v, want ErrInjected", err)
	}
}
