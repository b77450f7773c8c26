package kvfs

import (
	"context"
	"fmt"
	"testing"
)

// TestSetInodeCacheEntries resizes the caches of an open filesystem: a
// smaller size evicts down to it at once, a larger one lets them grow again,
// and lookups stay right throughout.
func TestSetInodeCacheEntries(t *testing.T) {
	ctx := context.Background()
	fs, err := Open(ctx, NewMemKV(), Options{InodeCacheEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	const files = 1000
	lookupAll := func() {
		t.Helper()
		for i := range files {
			a, err := fs.Lookup(ctx, Cred{}, RootIno, fmt.Sprintf("f%d", i))
			if err != nil || a.Type != TypeRegular {
				t.Fatalf("lookup f%d: %+v, %v", i, a, err)
			}
		}
	}
	for i := range files {
		if _, err := fs.Create(ctx, Cred{}, RootIno, fmt.Sprintf("f%d", i), CreateRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	lookupAll()
	if n := fs.inodes.Len(); n < files {
		t.Fatalf("%d inodes cached after looking up %d files with room for 4096", n, files)
	}
	tests := []struct {
		entries int
		wantMax int // cached entries at most, per cache
		wantMin int // after looking everything up again
	}{
		{entries: 64, wantMax: 64, wantMin: 1},
		{entries: 16, wantMax: 16, wantMin: 1},
		{entries: 8192, wantMax: 8192, wantMin: files},
		{entries: 0, wantMax: DefaultInodeCacheEntries, wantMin: files}, // the default
	}
	for _, tc := range tests {
		fs.SetInodeCacheEntries(tc.entries)
		for _, n := range []int{fs.inodes.Len(), fs.entries.Len()} {
			if n > tc.wantMax {
				t.Fatalf("resized to %d: %d entries cached", tc.entries, n)
			}
		}
		lookupAll()
		for _, n := range []int{fs.inodes.Len(), fs.entries.Len()} {
			if n > tc.wantMax || n < tc.wantMin {
				t.Fatalf("resized to %d, after lookups: %d entries cached, want %d to %d", tc.entries, n, tc.wantMin, tc.wantMax)
			}
		}
	}
}
