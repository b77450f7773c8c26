package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestTortureCacheLoss makes reads go through the disk cache (a 1 MiB
// memtable so the data lives in SSTs, a 1 MiB memory block cache), then loses
// or corrupts the cache: (a) deleted between runs, (b) every file corrupted
// between runs, (c) files corrupted and deleted, and the whole directory
// removed, while the daemon serves readers. Every read must stay byte-exact.
func TestTortureCacheLoss(t *testing.T) {
	seed := suiteSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	ctx := stepContext(t)
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	storeDir := filepath.Join(dir, "store")
	mport := freePort(t)
	d := newSuiteDaemon(t, dir, suiteConfig{
		Server:   fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", mport),
		CacheDir: cacheDir,
		// memory_mb = 0 should turn the memory block cache off, but does
		// not (see TestMemoryBlockCacheOff); 1 MiB against 6.5 MB read in
		// sequence misses nearly always, so reads reach the disk cache.
		CacheExtra: "memory_mb = 1\n",
		Global:     "[lsm]\nmemtable_mb = 1\n",
		Exports:    []exportSpec{{Name: "cached", Store: "file://" + storeDir, Extra: `squash = "none"`}},
	})
	metrics := func() map[string]int64 { return scrapeMetrics(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)) }
	d.Start()

	// Write 8 files of 768 KiB + a partial chunk, committed.
	m := suiteMustDial(t, d.addr, "/cached")
	var fhs [][]byte
	var want [][]byte
	var total int
	for i := 0; i < 8; i++ {
		fh, err := suiteCreate(ctx, m.c, m.root, fmt.Sprintf("f%d", i))
		if err != nil {
			t.Fatal(err)
		}
		data := suiteRandomBytes(rng, 768<<10+rng.IntN(64<<10))
		if err := suiteWriteAll(ctx, m.c, fh, 0, data, nfsclient.Unstable); err != nil {
			t.Fatalf("writing f%d: %v", i, err)
		}
		fhs, want = append(fhs, fh), append(want, data)
		total += len(data)
	}
	if _, err := m.c.Commit(ctx, fhs[0], 0, 0); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	verify := func(c *nfsclient.Client, phase string) error {
		for i, fh := range fhs {
			got, err := suiteReadAll(ctx, c, fh)
			if err != nil {
				return fmt.Errorf("%s: reading f%d: %w", phase, i, err)
			}
			if !bytes.Equal(got, want[i]) {
				return fmt.Errorf("%s: f%d is %d bytes sha256 %s, want %d bytes sha256 %s",
					phase, i, len(got), suiteSum(got), len(want[i]), suiteSum(want[i]))
			}
		}
		return nil
	}
	// A clean restart writes the memtable out, so everything is in SSTs.
	d.Stop()
	ssts := countFiles(t, filepath.Join(storeDir, "compacted"), func(string) bool { return true })
	if ssts == 0 {
		t.Fatalf("no SSTs under %s after writing %d bytes with a 1 MiB memtable", storeDir, total)
	}

	verified := 0
	restartAndVerify := func(phase string) {
		t.Helper()
		d.Start()
		c := suiteMustDial(t, d.addr, "/cached")
		for pass := 1; pass <= 2; pass++ { // the second pass reads what the first cached
			if err := verify(c.c, fmt.Sprintf("%s, pass %d", phase, pass)); err != nil {
				t.Fatal(err)
			}
			verified += total
		}
	}

	// Populate the cache.
	restartAndVerify("populate")
	pages := countFiles(t, cacheDir, isCachePage)
	if pages == 0 {
		t.Fatalf("no page files in the disk cache %s after reading %d bytes from %d SSTs", cacheDir, total, ssts)
	}
	before := metrics()
	if before["zerofs_disk_cache_hits_total"] == 0 {
		t.Errorf("the second read pass had no disk cache hits: %v", before)
	}

	// (a) The cache directory deleted between runs.
	d.Stop()
	if err := os.RemoveAll(cacheDir); err != nil {
		t.Fatal(err)
	}
	restartAndVerify("(a) cache deleted between runs")

	// (b) Every cache file corrupted between runs.
	d.Stop()
	corrupted := corruptCache(t, cacheDir, rng, false)
	restartAndVerify("(b) every cache file corrupted between runs")
	afterB := metrics()
	if afterB["zerofs_disk_cache_corrupt_total"] == 0 {
		t.Errorf("%d cache files were corrupted but the daemon counted none: %v", corrupted, afterB)
	}

	// (c) While the daemon serves two readers: corrupt every file in place,
	// delete every file, then remove the whole directory.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 2)
	readerPasses := make([]atomic.Int64, 2)
	for r := 0; r < 2; r++ {
		c := suiteMustDial(t, d.addr, "/cached")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := verify(c.c, fmt.Sprintf("(c) reader %d", r)); err != nil {
					errs <- err
					return
				}
				readerPasses[r].Add(1)
			}
		}()
	}
	// awaitPasses waits until each reader has started and finished a full
	// pass after the damage just done (or one of them failed).
	awaitPasses := func() {
		start := []int64{readerPasses[0].Load(), readerPasses[1].Load()}
		for readerPasses[0].Load() < start[0]+2 || readerPasses[1].Load() < start[1]+2 {
			if len(errs) > 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var liveCorrupted, liveDeleted int
	cycles := 3
	if suiteTortureOn() {
		cycles = 30
	}
	for i := 0; i < cycles; i++ {
		liveCorrupted += corruptCache(t, cacheDir, rng, true)
		awaitPasses()
		liveDeleted += deleteCacheFiles(t, cacheDir, rng)
		awaitPasses()
	}
	// The daemon may write new pages while the directory goes: retry.
	var rmErr error
	for try := 0; try < 20; try++ {
		if rmErr = os.RemoveAll(cacheDir); rmErr == nil {
			break
		}
	}
	if rmErr != nil {
		t.Fatalf("removing the cache directory while serving: %v", rmErr)
	}
	awaitPasses()
	liveCorrupted += corruptCache(t, cacheDir, rng, true)
	awaitPasses()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := suiteMustDial(t, d.addr, "/cached")
	if err := verify(c.c, "(c) after live corruption"); err != nil {
		t.Fatal(err)
	}
	passes := []int64{readerPasses[0].Load(), readerPasses[1].Load()}
	verified += total * int(1+passes[0]+passes[1])
	final := metrics()
	if final["zerofs_disk_cache_corrupt_total"] <= afterB["zerofs_disk_cache_corrupt_total"] {
		t.Errorf("%d cache files were corrupted while serving, but the daemon dropped none (corrupt counter %d before, %d after)",
			liveCorrupted, afterB["zerofs_disk_cache_corrupt_total"], final["zerofs_disk_cache_corrupt_total"])
	}
	d.Stop()
	suiteFsck(t, d, "cached")
	t.Logf("PROVED: %d files, %d bytes in %d SSTs read through the disk cache (%d pages); cache deleted between runs, %d files corrupted between runs, %d corrupted and %d deleted while serving (%d + %d reader passes), the directory removed while serving: every read byte-exact (%d bytes verified); disk cache hits %d, misses %d, corrupt files dropped %d; fsck clean",
		len(fhs), total, ssts, pages, corrupted, liveCorrupted, liveDeleted, passes[0], passes[1], verified,
		final["zerofs_disk_cache_hits_total"], final["zerofs_disk_cache_misses_total"], final["zerofs_disk_cache_corrupt_total"])
}

// isCachePage reports whether path is a page file of the disk cache.
func isCachePage(path string) bool {
	base := filepath.Base(path)
	return base != "LOCK" && !strings.HasPrefix(base, "tmp-")
}

func countFiles(t *testing.T, root string, keep func(string) bool) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && keep(path) {
			n++
		}
		return nil
	})
	return n
}

// corruptCache damages every page file under root in one of several ways:
// a flipped byte in the payload or in the header, truncation, emptying, or
// garbage appended. live tolerates files vanishing underneath (the daemon
// evicts and replaces them). It returns how many files it damaged.
func corruptCache(t *testing.T, root string, rng *rand.Rand, live bool) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() || !isCachePage(path) {
			return nil
		}
		if err := damageFile(path, rng.IntN(5), rng); err != nil {
			if live {
				return nil
			}
			t.Fatalf("corrupting %s: %v", path, err)
		}
		n++
		return nil
	})
	return n
}

func damageFile(path string, how int, rng *rand.Rand) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	flip := func(off int64) error {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			return err
		}
		b[0] ^= byte(1 + rng.IntN(255))
		_, err := f.WriteAt(b, off)
		return err
	}
	switch {
	case size == 0:
		_, err = f.Write([]byte("garbage"))
	case how == 0: // a byte of the payload end
		err = flip(size - 1 - rng.Int64N(min(size, 4096)))
	case how == 1: // a byte of the header
		err = flip(rng.Int64N(min(size, 32)))
	case how == 2:
		err = f.Truncate(size / 2)
	case how == 3:
		err = f.Truncate(0)
	default:
		_, err = f.WriteAt([]byte("trailing garbage"), size)
	}
	return err
}

// deleteCacheFiles removes about half of the page files under root.
func deleteCacheFiles(t *testing.T, root string, rng *rand.Rand) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && isCachePage(path) && rng.IntN(2) == 0 {
			if os.Remove(path) == nil {
				n++
			}
		}
		return nil
	})
	return n
}

// scrapeMetrics reads the samples of a Prometheus text endpoint, summing
// the labelled samples of a family under its bare name.
func scrapeMetrics(t *testing.T, url string) map[string]int64 {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, value, ok = line[:i], strings.TrimSpace(line[j+1:]), true
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] += int64(v)
		}
	}
	return out
}

// TestMemoryBlockCacheOff checks that [cache] memory_mb = 0 turns the memory
// block cache off, as docs/config.md says.
func TestMemoryBlockCacheOff(t *testing.T) {
	ctx := stepContext(t)
	dir := t.TempDir()
	mport := freePort(t)
	d := newSuiteDaemon(t, dir, suiteConfig{
		Server:     fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", mport),
		CacheExtra: "memory_mb = 0\n",
		Global:     "[lsm]\nmemtable_mb = 1\n",
		Exports:    []exportSpec{{Name: "nocache", Store: "file://" + filepath.Join(dir, "store"), Extra: `squash = "none"`}},
	})
	d.Start()
	m := suiteMustDial(t, d.addr, "/nocache")
	fh, err := suiteCreate(ctx, m.c, m.root, "f")
	if err != nil {
		t.Fatal(err)
	}
	data := suiteRandomBytes(rand.New(rand.NewPCG(1, 2)), 3<<20)
	if err := suiteWriteAll(ctx, m.c, fh, 0, data, nfsclient.FileSync); err != nil {
		t.Fatal(err)
	}
	d.Stop() // the memtable goes out as SSTs
	d.Start()
	m = suiteMustDial(t, d.addr, "/nocache")
	for pass := 0; pass < 2; pass++ {
		if got, err := suiteReadAll(ctx, m.c, fh); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("pass %d: %d bytes, err %v", pass, len(got), err)
		}
	}
	got := scrapeMetrics(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if hits := got["zerofs_lsm_block_cache_hits_total"]; hits != 0 {
		t.Fatalf("memory_mb = 0, yet the memory block cache served %d hits", hits)
	}
}
