package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

// RunContractTests runs the whole contract suite, each case as a subtest on
// a fresh store from newStore.
func RunContractTests(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s objstore.Store)
	}{
		{"MissingKey", testMissingKey},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"GetRange", testGetRange},
		{"Head", testHead},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Delete", testDelete},
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"ListPagination", testListPagination},
		{"CallerBuffers", testCallerBuffers},
		{"CanceledContext", testCanceledContext},
		{"InvalidKeys", testInvalidKeys},
		{"RandomOpsMatchModel", testRandomOpsMatchModel},
		{"KeyConflict", testKeyConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

func mustPut(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	data, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data
}

// pattern returns n bytes that differ by seed and position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func testMissingKey(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	mustPut(t, s, "present/a", []byte("x"))
	for _, key := range []string{"missing", "present/b", "present/a/below", "presen"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetRange(ctx, key, 0, 10); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q) error = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Head(%q) error = %v, want ErrNotFound", key, err)
		}
	}
	// A "directory" that holds objects is not itself an object.
	if _, err := s.Get(ctx, "present"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get(%q) of a key prefix error = %v, want ErrNotFound", "present", err)
	}
	if _, err := s.Head(ctx, "present"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(%q) of a key prefix error = %v, want ErrNotFound", "present", err)
	}
	if _, err := s.GetRange(ctx, "present", 0, 1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange(%q) of a key prefix error = %v, want ErrNotFound", "present", err)
	}
}

func testPutGet(t *testing.T, s objstore.Store) {
	tests := []struct {
		key  string
		data []byte
	}{
		{"empty", []byte{}},
		{"one", []byte{1}},
		{"dir/nested/deep/key", []byte("nested")},
		{"binary", pattern(256, 0)},
		{"big", pattern(1<<20+3, 5)},
		{"name with spaces+plus=eq", []byte("odd name")},
		{"wal/00000000000000000001.sst", []byte("wal")},
	}
	for _, tc := range tests {
		mustPut(t, s, tc.key, tc.data)
	}
	for _, tc := range tests {
		if got := mustGet(t, s, tc.key); !bytes.Equal(got, tc.data) {
			t.Errorf("Get(%q) = %d bytes, want %d bytes equal to what was put", tc.key, len(got), len(tc.data))
		}
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	mustPut(t, s, "k", []byte("first version, longer"))
	mustPut(t, s, "k", []byte("second"))
	if got := mustGet(t, s, "k"); string(got) != "second" {
		t.Fatalf("Get after overwrite = %q, want %q", got, "second")
	}
	info, err := s.Head(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 6 {
		t.Errorf("Head size after overwrite = %d, want 6", info.Size)
	}
}

func testGetRange(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	data := pattern(1000, 3)
	mustPut(t, s, "obj", data)
	mustPut(t, s, "empty", nil)
	tests := []struct {
		key    string
		off, n int64
		want   []byte
	}{
		{"obj", 0, 1000, data},
		{"obj", 0, 10, data[:10]},
		{"obj", 10, 20, data[10:30]},
		{"obj", 990, 10, data[990:]},
		{"obj", 990, 100, data[990:]},         // partial: object ends first
		{"obj", 0, 5000, data},                // longer than the object
		{"obj", 999, 1, data[999:]},           // last byte
		{"obj", 1000, 10, []byte{}},           // at the end
		{"obj", 5000, 10, []byte{}},           // past the end
		{"obj", 10, 0, []byte{}},              // zero length
		{"obj", 10, math.MaxInt64, data[10:]}, // "to the end"
		{"empty", 0, 10, []byte{}},            // empty object
	}
	for _, tc := range tests {
		got, err := s.GetRange(ctx, tc.key, tc.off, tc.n)
		if err != nil {
			t.Errorf("GetRange(%q, %d, %d): %v", tc.key, tc.off, tc.n, err)
			continue
		}
		if got == nil || !bytes.Equal(got, tc.want) {
			t.Errorf("GetRange(%q, %d, %d) = %d bytes (nil=%v), want %d bytes", tc.key, tc.off, tc.n, len(got), got == nil, len(tc.want))
		}
	}
	for _, bad := range [][2]int64{{-1, 10}, {0, -1}} {
		if _, err := s.GetRange(ctx, "obj", bad[0], bad[1]); !errors.Is(err, objstore.ErrInvalidRange) {
			t.Errorf("GetRange(obj, %d, %d) error = %v, want ErrInvalidRange", bad[0], bad[1], err)
		}
	}
}

func testHead(t *testing.T, s objstore.Store) {
	mustPut(t, s, "a/b", pattern(123, 1))
	info, err := s.Head(context.Background(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "a/b" || info.Size != 123 {
		t.Errorf("Head = %+v, want key a/b size 123", info)
	}
	if info.ModTime.IsZero() {
		t.Errorf("Head ModTime is zero")
	}
}

func testPutIfAbsent(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	if err := s.PutIfAbsent(ctx, "m/1", []byte("first")); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	err := s.PutIfAbsent(ctx, "m/1", []byte("second"))
	if !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("second PutIfAbsent error = %v, want ErrPreconditionFailed", err)
	}
	if got := mustGet(t, s, "m/1"); string(got) != "first" {
		t.Fatalf("after losing PutIfAbsent, Get = %q, want %q", got, "first")
	}
	// After a delete the name is free again.
	if err := s.Delete(ctx, "m/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "m/1", []byte("third")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	if got := mustGet(t, s, "m/1"); string(got) != "third" {
		t.Fatalf("Get = %q, want %q", got, "third")
	}
	// Put over an object made by PutIfAbsent works.
	mustPut(t, s, "m/1", []byte("fourth"))
	if got := mustGet(t, s, "m/1"); string(got) != "fourth" {
		t.Fatalf("Get = %q, want %q", got, "fourth")
	}
}

func testPutIfAbsentRace(t *testing.T, s objstore.Store) {
	const writers = 16
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	ctx := context.Background()
	for round := range rounds {
		key := fmt.Sprintf("race/%03d", round)
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				errs[w] = s.PutIfAbsent(ctx, key, fmt.Appendf(nil, "writer %d", w))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("%s: writers %d and %d both won", key, winner, w)
				}
				winner = w
			case errors.Is(err, objstore.ErrPreconditionFailed):
			default:
				t.Fatalf("%s: writer %d: unexpected error %v", key, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no writer won", key)
		}
		if got, want := string(mustGet(t, s, key)), fmt.Sprintf("writer %d", winner); got != want {
			t.Fatalf("%s: stored %q, want the winner's %q", key, got, want)
		}
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	mustPut(t, s, "d/x", []byte("x"))
	mustPut(t, s, "d/y", []byte("y"))
	for i := range 2 { // the second Delete finds nothing: still no error
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := s.Get(ctx, "d/x"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after Delete error = %v, want ErrNotFound", err)
	}
	if got := mustGet(t, s, "d/y"); string(got) != "y" {
		t.Fatalf("sibling changed by Delete: %q", got)
	}
	page, err := s.List(ctx, "d/", objstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(page); !slices.Equal(keys, []string{"d/y"}) {
		t.Fatalf("List after Delete = %q, want [d/y]", keys)
	}
}

func keysOf(page objstore.ListPage) []string {
	keys := make([]string, len(page.Objects))
	for i, o := range page.Objects {
		keys[i] = o.Key
	}
	return keys
}

// listAll follows pages of size limit to the end.
func listAll(t *testing.T, s objstore.Store, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	opts := objstore.ListOptions{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("List(%q) does not end", prefix)
		}
		page, err := s.List(context.Background(), prefix, opts)
		if err != nil {
			t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
		}
		if limit > 0 && len(page.Objects) > limit {
			t.Fatalf("List(%q, limit %d) returned %d objects", prefix, limit, len(page.Objects))
		}
		keys = append(keys, keysOf(page)...)
		if !page.Truncated {
			return keys
		}
		if len(page.Objects) == 0 {
			t.Fatalf("List(%q) truncated page with no objects", prefix)
		}
		opts.StartAfter = page.Objects[len(page.Objects)-1].Key
	}
}

func testListOrderAndPrefix(t *testing.T, s objstore.Store) {
	// Names chosen so that byte order differs from a naive directory walk:
	// '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f), '0' after it.
	keys := []string{
		"a-b", "a.c", "a/b", "a/c/d", "a0", "b/x", "b/y/z", "ba",
		"wal/00000000000000000002.sst", "wal/00000000000000000010.sst", "wal/00000000000000000001.sst",
	}
	for i, k := range keys {
		mustPut(t, s, k, pattern(i, byte(i)))
	}
	sorted := slices.Sorted(slices.Values(keys))
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"a", []string{"a-b", "a.c", "a/b", "a/c/d", "a0"}},
		{"a/", []string{"a/b", "a/c/d"}},
		{"a/c", []string{"a/c/d"}},
		{"b", []string{"b/x", "b/y/z", "ba"}},
		{"b/y/", []string{"b/y/z"}},
		{"wal/", []string{"wal/00000000000000000001.sst", "wal/00000000000000000002.sst", "wal/00000000000000000010.sst"}},
		{"wal/0000000000000000000", []string{"wal/00000000000000000001.sst", "wal/00000000000000000002.sst"}},
		{"c", nil},
		{"zzz/", nil},
		{"a/b/", nil},
	}
	for _, tc := range tests {
		got := listAll(t, s, tc.prefix, 0)
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	// Sizes are reported.
	page, err := s.List(context.Background(), "", objstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Objects {
		i := slices.Index(keys, o.Key)
		if o.Size != int64(i) {
			t.Errorf("List size of %q = %d, want %d", o.Key, o.Size, i)
		}
	}
	if page.Truncated {
		t.Errorf("List of %d keys with the default limit is truncated", len(keys))
	}
}

func testListPagination(t *testing.T, s objstore.Store) {
	var want []string
	for i := range 23 {
		k := fmt.Sprintf("p/%02d/obj", i)
		if i%3 == 0 {
			k = fmt.Sprintf("p/%02d", i) // mix files and directories at one level
		}
		want = append(want, k)
		mustPut(t, s, k, []byte{byte(i)})
	}
	mustPut(t, s, "q/outside", []byte("x"))
	slices.Sort(want)
	for _, limit := range []int{1, 2, 5, 22, 23, 24, 1000} {
		if got := listAll(t, s, "p/", limit); !slices.Equal(got, want) {
			t.Errorf("paging by %d: got %q, want %q", limit, got, want)
		}
	}
	// StartAfter need not be an existing key.
	page, err := s.List(context.Background(), "p/", objstore.ListOptions{StartAfter: "p/10", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := slices.BinarySearch(want, "p/10\x00")
	if got := keysOf(page); !slices.Equal(got, want[i:i+3]) || !page.Truncated {
		t.Errorf("List(StartAfter p/10, limit 3) = %q truncated=%v, want %q truncated", got, page.Truncated, want[i:i+3])
	}
	// StartAfter before the prefix starts at the prefix; after it, nothing.
	if got := keysOf(mustList(t, s, "p/", objstore.ListOptions{StartAfter: "a", Limit: 1})); !slices.Equal(got, want[:1]) {
		t.Errorf("StartAfter before prefix: %q, want %q", got, want[:1])
	}
	if page := mustList(t, s, "p/", objstore.ListOptions{StartAfter: "p/99"}); len(page.Objects) != 0 || page.Truncated {
		t.Errorf("StartAfter after every key: %+v, want empty", page)
	}
	// An exactly full last page may or may not say Truncated, but then the
	// next page is empty.
	page = mustList(t, s, "p/", objstore.ListOptions{StartAfter: want[len(want)-2], Limit: 1})
	if got := keysOf(page); !slices.Equal(got, want[len(want)-1:]) {
		t.Errorf("last page = %q, want %q", got, want[len(want)-1:])
	}
}

func mustList(t *testing.T, s objstore.Store, prefix string, opts objstore.ListOptions) objstore.ListPage {
	t.Helper()
	page, err := s.List(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return page
}

func testCallerBuffers(t *testing.T, s objstore.Store) {
	buf := []byte("original")
	mustPut(t, s, "buf", buf)
	copy(buf, "CHANGED!")
	got := mustGet(t, s, "buf")
	if string(got) != "original" {
		t.Fatalf("store kept the caller's buffer: Get = %q", got)
	}
	got[0] = 'X'
	if again := mustGet(t, s, "buf"); string(again) != "original" {
		t.Fatalf("store returned its own buffer: Get = %q", again)
	}
	// The same for ranges, read twice (a cache may keep the first).
	for range 2 {
		part, err := s.GetRange(context.Background(), "buf", 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		if string(part) != "igin" {
			t.Fatalf("store returned its own buffer: GetRange = %q", part)
		}
		copy(part, "XXXX")
	}
}

func testCanceledContext(t *testing.T, s objstore.Store) {
	mustPut(t, s, "c/k", []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "c/k"); return err }},
		{"GetRange", func() error { _, err := s.GetRange(ctx, "c/k", 0, 1); return err }},
		{"Head", func() error { _, err := s.Head(ctx, "c/k"); return err }},
		{"Put", func() error { return s.Put(ctx, "c/new", []byte("v")) }},
		{"PutIfAbsent", func() error { return s.PutIfAbsent(ctx, "c/new2", []byte("v")) }},
		{"Delete", func() error { return s.Delete(ctx, "c/k") }},
		{"List", func() error { _, err := s.List(ctx, "c/", objstore.ListOptions{}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", c.name, err)
		}
	}
	// Nothing was changed.
	if got := mustGet(t, s, "c/k"); string(got) != "v" {
		t.Errorf("Get after canceled Delete = %q, want %q", got, "v")
	}
	for _, k := range []string{"c/new", "c/new2"} {
		if _, err := s.Head(context.Background(), k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Head(%q) after canceled write: %v, want ErrNotFound", k, err)
		}
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a//b", "trailing/", "../escape", "a/../b", "a/./b", "nul\x00byte"} {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := s.PutIfAbsent(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("PutIfAbsent(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
	page := mustList(t, s, "", objstore.ListOptions{})
	if len(page.Objects) != 0 {
		t.Errorf("invalid keys were stored: %q", keysOf(page))
	}
}

// testKeyConflict: a store may allow both "p" and "p/q" (AWS) or refuse the
// second with ErrKeyConflict (file-based stores), but nothing else, and a
// refusal changes nothing.
func testKeyConflict(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	steps := []struct {
		first, second string
		ifAbsent      bool
	}{
		{"p", "p/q", false},
		{"d/e", "d", false},
		{"f", "f/g/h", true},
		{"i/j/k", "i", true},
	}
	for _, st := range steps {
		mustPut(t, s, st.first, []byte("first"))
		var err error
		if st.ifAbsent {
			err = s.PutIfAbsent(ctx, st.second, []byte("second"))
		} else {
			err = s.Put(ctx, st.second, []byte("second"))
		}
		switch {
		case err == nil:
			if got := mustGet(t, s, st.second); string(got) != "second" {
				t.Errorf("%q after %q: Get = %q", st.second, st.first, got)
			}
		case errors.Is(err, objstore.ErrKeyConflict):
			if _, herr := s.Head(ctx, st.second); !errors.Is(herr, objstore.ErrNotFound) {
				t.Errorf("refused %q is visible: %v", st.second, herr)
			}
		default:
			t.Errorf("writing %q after %q: %v, want success or ErrKeyConflict", st.second, st.first, err)
		}
		if got := mustGet(t, s, st.first); string(got) != "first" {
			t.Errorf("%q changed by writing %q: %q", st.first, st.second, got)
		}
	}
}
