package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

// testRandomOpsMatchModel runs a seeded random sequence of operations on the
// store and on a plain map, and checks that every answer agrees.
func testRandomOpsMatchModel(t *testing.T, s objstore.Store) {
	ops := 400
	if testing.Short() {
		ops = 150
	}
	checkAgainstModel(t, s, 1, ops)
}

// Keys come from a small set so that operations collide. No key is a
// "directory" of another: the leaves are at depth 2 under a fixed set of
// directories.
func modelKey(r *rand.Rand) string {
	dirs := []string{"wal", "manifest", "compacted", "a-b", "a"}
	return fmt.Sprintf("%s/%02d", dirs[r.IntN(len(dirs))], r.IntN(12))
}

func checkAgainstModel(t *testing.T, s objstore.Store, seed uint64, ops int) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed+1))
	model := map[string][]byte{}
	prefixes := []string{"", "a", "a/", "a-", "wal/", "wal/0", "manifest/1", "compacted/", "zz"}
	for i := range ops {
		key := modelKey(r)
		step := fmt.Sprintf("op %d (seed %d)", i, seed)
		switch n := r.IntN(100); {
		case n < 25:
			data := pattern(r.IntN(300), byte(i))
			if err := s.Put(ctx, key, data); err != nil {
				t.Fatalf("%s: Put(%q): %v", step, key, err)
			}
			model[key] = data
		case n < 40:
			data := pattern(r.IntN(300), byte(i))
			err := s.PutIfAbsent(ctx, key, data)
			_, exists := model[key]
			switch {
			case exists && !errors.Is(err, objstore.ErrPreconditionFailed):
				t.Fatalf("%s: PutIfAbsent(%q) over an existing key: %v, want ErrPreconditionFailed", step, key, err)
			case !exists && err != nil:
				t.Fatalf("%s: PutIfAbsent(%q) of a new key: %v", step, key, err)
			case !exists:
				model[key] = data
			}
		case n < 55:
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("%s: Delete(%q): %v", step, key, err)
			}
			delete(model, key)
		case n < 70:
			got, err := s.Get(ctx, key)
			checkRead(t, step, "Get", key, model, got, err, func(d []byte) []byte { return d })
		case n < 85:
			off, length := int64(r.IntN(350)), int64(r.IntN(200))
			got, err := s.GetRange(ctx, key, off, length)
			checkRead(t, step, fmt.Sprintf("GetRange[%d,+%d)", off, length), key, model, got, err, func(d []byte) []byte {
				end := min(off+length, int64(len(d)))
				if off >= end {
					return []byte{}
				}
				return d[off:end]
			})
		default:
			prefix := prefixes[r.IntN(len(prefixes))]
			limit := 1 + r.IntN(8)
			var want []string
			for k := range model {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			if got := listAll(t, s, prefix, limit); !slices.Equal(got, want) {
				t.Fatalf("%s: List(%q) by %d = %q, want %q", step, prefix, limit, got, want)
			}
		}
	}
}

func checkRead(t *testing.T, step, what, key string, model map[string][]byte, got []byte, err error, expect func([]byte) []byte) {
	t.Helper()
	data, exists := model[key]
	if !exists {
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("%s: %s(%q) of a missing key: %v, want ErrNotFound", step, what, key, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %s(%q): %v", step, what, key, err)
	}
	if want := expect(data); !bytes.Equal(got, want) {
		t.Fatalf("%s: %s(%q) = %d bytes, want %d bytes", step, what, key, len(got), len(want))
	}
}
