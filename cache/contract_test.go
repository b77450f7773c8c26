package cache

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The caching store must keep the objstore.Store contract of the store it
// wraps. Pages are one chunk (4 KiB) so the suite's objects span pages.
func TestContract(t *testing.T) {
	backends := []struct {
		name  string
		inner func(t *testing.T) objstore.Store
	}{
		{"memory", func(t *testing.T) objstore.Store { return objstore.NewMemory() }},
		{"local", func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"s3", func(t *testing.T) objstore.Store { return testenv.S3Store(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
				inner := b.inner(t)
				d, err := OpenDiskWithOptions(t.TempDir(), DiskOptions{CapacityBytes: 1 << 20, PageSize: chunkSize, Logger: testLogger()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return NewCachingStore(inner, d, "contract")
			})
		})
	}
}

// On a real S3 server: ranges across pages, then the same ranges served
// from the cache without a request to the server.
func TestS3RangesAreCached(t *testing.T) {
	inner := objstore.NewCounting(testenv.S3Store(t))
	obj := patterned(5*P+321, 40)
	ctx := context.Background()
	if err := inner.Put(ctx, "compacted/a.sst", obj); err != nil {
		t.Fatal(err)
	}
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "s3")
	for range 2 {
		for _, r := range [][2]int64{{0, 100}, {P - 50, 100}, {3*P + 7, 2 * P}, {5 * P, P}, {6 * P, 10}} {
			checkRange(t, s, "compacted/a.sst", obj, r[0], r[1])
		}
	}
	st := inner.Stats()
	if got := st[objstore.OpGet].Requests + st[objstore.OpGetRange].Requests; got != 3 {
		t.Errorf("%d reads reached S3 (%+v), want 3: pages 0, 1 and 3..5 fetched, then the end of the object known", got, st)
	}
}

// Inner errors reach the caller and are not cached: once the store answers
// again, the data comes.
func TestInnerErrorsAreNotCached(t *testing.T) {
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	obj := patterned(3*P, 41)
	ctx := context.Background()
	faulty.Put(ctx, "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(faulty, d, "ns")
	h := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGetRange, objstore.OpGet}})
	if _, err := s.GetRange(ctx, "obj", 0, 10); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("GetRange with a failing store: %v, want ErrInjected", err)
	}
	if _, err := s.Get(ctx, "obj"); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("Get with a failing store: %v, want ErrInjected", err)
	}
	h.Remove()
	checkRange(t, s, "obj", obj, 0, 3*P)
	got, err := s.Get(ctx, "obj")
	if err != nil || !bytes.Equal(got, obj) {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	if st := d.Stats(); st.Files == 0 {
		t.Errorf("stats %+v: pages should be cached once the store answers", st)
	}
}
