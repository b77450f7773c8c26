package memtable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/lsm/sstable"
)

func TestGetVersions(t *testing.T) {
	m := New()
	m.Add(1, sstable.KindSet, []byte("a"), []byte("a1"))
	m.Add(2, sstable.KindSet, []byte("b"), []byte("b2"))
	m.Add(3, sstable.KindSet, []byte("a"), []byte("a3"))
	m.Add(4, sstable.KindDelete, []byte("a"), nil)
	tests := []struct {
		key       string
		maxSeq    uint64
		wantFound bool
		wantKind  sstable.Kind
		wantValue string
	}{
		{"a", 0, false, 0, ""},
		{"a", 1, true, sstable.KindSet, "a1"},
		{"a", 2, true, sstable.KindSet, "a1"},
		{"a", 3, true, sstable.KindSet, "a3"},
		{"a", 10, true, sstable.KindDelete, ""},
		{"b", 1, false, 0, ""},
		{"b", 2, true, sstable.KindSet, "b2"},
		{"c", 10, false, 0, ""},
		{"", 10, false, 0, ""},
	}
	for _, tc := range tests {
		v, _, k, found := m.Get([]byte(tc.key), tc.maxSeq)
		if found != tc.wantFound || (found && (k != tc.wantKind || string(v) != tc.wantValue)) {
			t.Errorf("Get(%q,%d) = %q,%v,%v; want %q,%v,%v", tc.key, tc.maxSeq, v, k, found, tc.wantValue, tc.wantKind, tc.wantFound)
		}
	}
}

func TestIterOrderRandom(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	m := New()
	type ent struct {
		key string
		seq uint64
	}
	var all []ent
	for seq := uint64(1); seq <= 5000; seq++ {
		k := fmt.Sprintf("k%04d", r.IntN(800))
		m.Add(seq, sstable.KindSet, []byte(k), []byte(k))
		all = append(all, ent{k, seq})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].key != all[j].key {
			return all[i].key < all[j].key
		}
		return all[i].seq > all[j].seq
	})
	it := m.NewIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if string(it.Key()) != all[i].key || it.Seq() != all[i].seq {
			t.Fatalf("entry %d = %s@%d, want %s@%d", i, it.Key(), it.Seq(), all[i].key, all[i].seq)
		}
		i++
	}
	if i != len(all) {
		t.Fatalf("iterated %d entries, want %d", i, len(all))
	}
	target := fmt.Sprintf("k%04d", 400)
	if !it.SeekGE([]byte(target)) || bytes.Compare(it.Key(), []byte(target)) < 0 {
		t.Fatalf("SeekGE(%s) landed on %s", target, it.Key())
	}
}

// TestConcurrentReaders runs readers while one writer inserts; run with -race.
func TestConcurrentReaders(t *testing.T) {
	m := New()
	const n = 20000
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				it := m.NewIter()
				var prev []byte
				for ok := it.First(); ok; ok = it.Next() {
					if prev != nil && bytes.Compare(prev, it.Key()) > 0 {
						t.Errorf("order violated: %q before %q", prev, it.Key())
						return
					}
					prev = it.Key()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		k := []byte(fmt.Sprintf("%08d", (i*7919)%n))
		m.Add(uint64(i+1), sstable.KindSet, k, k)
	}
	close(done)
	wg.Wait()
	if m.Len() != n {
		t.Fatalf("Len = %d, want %d", m.Len(), n)
	}
}

func BenchmarkAdd(b *testing.B) {
	m := New()
	v := make([]byte, 100)
	k := make([]byte, 16)
	for i := 0; i < b.N; i++ {
		x := uint64(i) * 0x9E3779B97F4A7C15
		for j := 0; j < 8; j++ {
			k[j] = byte(x >> (8 * j))
		}
		m.Add(uint64(i+1), sstable.KindSet, k, v)
	}
}

// TestGetDuringInsertOfNewerVersion: a Get at an older snapshot never
// returns a version newer than it, even while the writer inserts that
// version right where the Get is looking. Each round, a reader spins on
// Get(key, 1) while the writer adds key@2: the new node is linked right
// after the node the reader's search stops at, and a search that read its
// successor twice could return it.
func TestGetDuringInsertOfNewerVersion(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two threads running at once")
	}
	const keys = 2000
	m := New()
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%08d", i)) }
	for i := 0; i < keys; i++ {
		m.Add(1, sstable.KindSet, key(i), []byte("old"))
	}
	var spinning, inserted atomic.Int64 // the key the reader spins on; the last key inserted
	spinning.Store(-1)
	inserted.Store(-1)
	var stopped atomic.Bool
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer stopped.Store(true)
		for i := 0; i < keys; i++ {
			k := key(i)
			spinning.Store(int64(i))
			for {
				done := inserted.Load() >= int64(i)
				v, seq, _, found := m.Get(k, 1)
				if !found || seq != 1 || string(v) != "old" {
					errc <- fmt.Errorf("Get(%s, 1) = %q@%d found=%v while %s@2 was being added", k, v, seq, found, k)
					return
				}
				if done {
					break
				}
			}
		}
	}()
	for i := 0; i < keys; i++ {
		for spinning.Load() < int64(i) && !stopped.Load() {
		}
		if stopped.Load() {
			break
		}
		m.Add(2, sstable.KindSet, key(i), []byte("new"))
		inserted.Store(int64(i))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
