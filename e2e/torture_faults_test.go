package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/objstore"
)

// fpOpBound is the longest one NFS operation may take while the object
// store misbehaves; beyond it the daemon counts as hung.
const fpOpBound = 90 * time.Second

// hardDownFor is how long the store is down altogether halfway through the
// faults: longer than the S3 client's retries wait (objstore's defaults:
// at most about 21 s), so that a write that needs the store fails back to
// its NFS client.
const hardDownFor = 25 * time.Second

// fpAcked is what the workload knows must be in the filesystem: files
// whose content a successful COMMIT acknowledged, and names whose removal
// was acknowledged.
type fpAcked struct {
	mu      sync.Mutex
	files   map[string][]byte // path relative to the export root -> content
	removed map[string]bool
	// torn: files whose last overwrite failed; each byte must be the old
	// or the new one (or zero where the file grew).
	torn map[string][2][]byte
}

func (a *fpAcked) tear(path string, old, next []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.files, path)
	a.torn[path] = [2][]byte{old, next}
}

func (a *fpAcked) set(path string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[path] = data
	delete(a.removed, path)
}

func (a *fpAcked) forget(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.files, path)
}

func (a *fpAcked) remove(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.files, path)
	a.removed[path] = true
}

// fpStats counts the workload's outcomes.
type fpStats struct {
	ok, failed        atomic.Int64
	failedByProc      sync.Map // string -> *atomic.Int64
	byStatus          sync.Map // uint32 -> *atomic.Int64
	readsVerified     atomic.Int64
	slowestOp         atomic.Int64 // nanoseconds
	bytesReadVerified atomic.Int64
}

func (s *fpStats) result(proc string, err error) {
	if err == nil {
		s.ok.Add(1)
		return
	}
	s.failed.Add(1)
	v, _ := s.failedByProc.LoadOrStore(proc, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	var se *nfsclient.StatusError
	if errors.As(err, &se) {
		v, _ := s.byStatus.LoadOrStore(se.Status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
}

// statuses lists the NFS statuses of the failures.
func (s *fpStats) statuses() string {
	var parts []string
	s.byStatus.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("status %d: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, ", ")
}

func (s *fpStats) failures() string {
	var parts []string
	s.failedByProc.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, ", ")
}

// fpCleanNFSError reports whether err is an answer a client can act on: an
// NFS status or an RPC-level reply. A broken connection or a timeout is not.
func fpCleanNFSError(err error) bool {
	var se *nfsclient.StatusError
	var re *rpc.ReplyError
	return errors.As(err, &se) || errors.As(err, &re)
}

// TestTortureObjectStoreFaults runs zerofsd on a real S3 server (versitygw)
// behind a proxy that injects 500/503 answers, latency, connection resets
// (before and after the server executed the request) and truncated bodies,
// while clients write, overwrite, rename, remove and read files. Every
// operation must either succeed or fail with a clean NFS error within a
// bound; the daemon must keep answering; once the faults stop, every file
// whose content a COMMIT acknowledged verifies byte for byte, before and
// after a SIGKILL restart, and fsck is clean.
func TestTortureObjectStoreFaults(t *testing.T) {
	seed := suiteSeed(t)
	env := testenv.S3(t)
	rates := s3proxy.Rates{
		s3proxy.Fault500:         0.04,
		s3proxy.Fault503:         0.04,
		s3proxy.FaultLatency:     0.08,
		s3proxy.FaultResetBefore: 0.03,
		s3proxy.FaultResetAfter:  0.03,
		s3proxy.FaultTruncate:    0.04,
	}
	proxy := startFaultProxy(t, env.Endpoint, seed, rates)

	dir := t.TempDir()
	// Credentials go in the file so that fsck (run without this
	// environment) finds them too and never asks a metadata service.
	d := newDaemon(t, dir, nil)
	// Small memtables so SSTs are written, read back and compacted through
	// the proxy; no memory block cache and a 4 MB disk cache so that reads
	// go to the object store (and meet its truncated bodies).
	cfg := fmt.Sprintf(`[server]
listen = %q
log_level = "info"
portmapper = "off"

[cache]
dir = %q
size_gb = 0.004
memory_mb = 0

[lsm]
memtable_mb = 1

[[exports]]
name = "faulty"
path = "/faulty"
store = "s3://%s/fs"
squash = "none"

[exports.s3]
endpoint = %q
allow_http = true
region = %q
access_key_id = %q
secret_access_key = %q
`, d.addr, filepath.Join(dir, "cache"), env.Bucket, proxy.Endpoint(), env.Region, env.AccessKeyID, env.SecretAccessKey)
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer func() {
		if t.Failed() {
			t.Logf("zerofsd log (tail):\n%s", tail(d.Logs(), 80))
		}
	}()

	workers := 4
	duration := fpDuration(25*time.Second, 3*time.Minute)
	acked := &fpAcked{files: map[string][]byte{}, removed: map[string]bool{}, torn: map[string][2][]byte{}}
	stats := &fpStats{}

	// The workload's context outlives the (long) fault phase.
	ctx, cancel := context.WithTimeout(context.Background(), duration+10*time.Minute)
	defer cancel()
	// Per-worker directories, made before the faults start.
	setup, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := setup.Mount(ctx, "/faulty")
	if err != nil {
		t.Fatalf("MNT /faulty: %v", err)
	}
	dirs := make([][]byte, workers)
	for w := range workers {
		res, err := setup.Mkdir(ctx, root, fmt.Sprintf("w%d", w), nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
		if err != nil {
			t.Fatalf("mkdir w%d: %v", w, err)
		}
		dirs[w] = res.FH
	}
	setup.Close()

	proxy.SetEnabled(true)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stopPing := make(chan struct{})
	go func() {
		// The daemon keeps answering NULL while its store misbehaves.
		for {
			select {
			case <-stopPing:
				errs <- nil
				return
			case <-time.After(time.Second):
			}
			if err := fpNullPing(d.addr, 30*time.Second); err != nil {
				errs <- fmt.Errorf("the daemon did not answer NULL during the faults: %w", err)
				return
			}
		}
	}()
	stopOutages := make(chan struct{})
	var outages atomic.Int64
	go func() {
		// Every few seconds a short outage (0.5 to 3 s), which the S3
		// client's retries mostly ride out (they wait about 10 s on
		// average, at most 21 s, before giving up). Halfway through, the
		// store is down altogether for longer than the retries wait, so
		// that failures reach the NFS clients.
		orng := rand.New(rand.NewPCG(seed, 0x07))
		hardDown := time.After(duration / 2)
		for {
			select {
			case <-hardDown:
				hardDown = nil
				proxy.SetDown(true)
				select {
				case <-stopOutages:
				case <-time.After(hardDownFor):
				}
				proxy.SetDown(false)
				continue
			default:
			}
			select {
			case <-stopOutages:
				proxy.SetOutage(false)
				return
			case <-time.After(time.Duration(3000+orng.IntN(5000)) * time.Millisecond):
			}
			outages.Add(1)
			proxy.SetOutage(true)
			select {
			case <-stopOutages:
				proxy.SetOutage(false)
				return
			case <-time.After(time.Duration(500+orng.IntN(2500)) * time.Millisecond):
			}
			proxy.SetOutage(false)
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			errs <- faultWorker(ctx, d.addr, w, dirs[w], rng, start.Add(duration), acked, stats)
		}()
	}
	wg.Wait()
	close(stopOutages)
	close(stopPing)
	for range workers + 1 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	proxy.SetEnabled(false)
	faultSummary := proxy.Summary()
	t.Logf("during %v of faults (%d short outages, one of %v): proxy saw %s", time.Since(start).Round(time.Second), outages.Load(), hardDownFor, faultSummary)
	t.Logf("operations: %d ok, %d failed cleanly (%s; %s); slowest %v", stats.ok.Load(), stats.failed.Load(), stats.failures(), stats.statuses(),
		time.Duration(stats.slowestOp.Load()).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	if proxy.Injected() == 0 {
		t.Fatalf("no fault was injected: the test proved nothing")
	}

	// With the faults off the daemon recovers: a new file commits at once.
	{
		c, err := nfsclient.Dial(ctx, d.addr)
		if err != nil {
			t.Fatal(err)
		}
		data := suiteRandomBytes(rand.New(rand.NewPCG(seed, 99)), 200<<10)
		res, err := c.Create(ctx, dirs[0], "after-faults", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
		if err != nil {
			t.Fatalf("CREATE after the faults stopped: %v", err)
		}
		if ok, err := fpWriteCommit(ctx, c, res.FH, 0, data); err != nil || !ok {
			t.Fatalf("WRITE+COMMIT after the faults stopped: acknowledged %v, %v", ok, err)
		}
		acked.set("w0/after-faults", data)
		c.Close()
	}
	verified := fpVerifyAcked(t, d.addr, acked, "after the faults stopped")
	if strings.Contains(d.Logs(), "panic") {
		t.Fatalf("the daemon logged a panic during the faults:\n%s", tail(d.Logs(), 80))
	}
	d.Kill()
	if out, err := runBinary(t, "fsck", "-c", d.config, "--export", "faulty"); err != nil {
		t.Fatalf("fsck after the faults and SIGKILL: %v\n%s", err, out)
	}
	// Restart (WAL replay, manifest update) with the store misbehaving
	// again, outages aside; verify once the export answers, faults off.
	before := proxy.Injected()
	proxy.SetEnabled(true)
	d.Start()
	fpWaitMount(t, d, "/faulty")
	proxy.SetEnabled(false)
	restartFaults := proxy.Injected() - before
	t.Logf("restart under faults: %d faults injected while the export opened", restartFaults)
	verified2 := fpVerifyAcked(t, d.addr, acked, "after SIGKILL and a restart under faults")
	d.Stop()
	if out, err := runBinary(t, "fsck", "-c", d.config, "--export", "faulty"); err != nil {
		t.Fatalf("fsck after the clean stop: %v\n%s", err, out)
	}
	t.Logf("PROVED: with the object store failing (%s) under %d workers for %v, every operation "+
		"succeeded or failed with a clean NFS error within %v (%d ok, %d failed), the daemon kept answering NULL, "+
		"%d reads during the faults returned correct data (%d bytes); after the faults stopped %d committed files "+
		"(%d bytes), %d files torn by a failed overwrite (each byte old or new) and %d acknowledged removals verified, again after SIGKILL and a restart under faults (%d faults during it; %d bytes), fsck clean; seed %d",
		faultSummary, workers, duration, fpOpBound, stats.ok.Load(), stats.failed.Load(),
		stats.readsVerified.Load(), stats.bytesReadVerified.Load(),
		len(acked.files), verified, len(acked.torn), len(acked.removed), restartFaults, verified2, seed)
}

// faultWorker runs random operations in its own directory until deadline.
// It returns an error only for what must never happen: a hang, a broken
// connection, an unclean failure, or wrong data.
func faultWorker(ctx context.Context, addr string, w int, dir []byte, rng *rand.Rand, deadline time.Time,
	acked *fpAcked, stats *fpStats) error {
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	type file struct {
		name string
		fh   []byte
		data []byte // acknowledged content
	}
	var files []file // committed and known
	seq := 0
	op := func(name string, f func(ctx context.Context) error) error {
		octx, cancel := context.WithTimeout(ctx, fpOpBound)
		defer cancel()
		began := time.Now()
		err := f(octx)
		stats.result(name, err)
		if took := int64(time.Since(began)); took > stats.slowestOp.Load() {
			stats.slowestOp.Store(took) // racy maximum; good enough for a report
		}
		if err != nil && !fpCleanNFSError(err) {
			return fmt.Errorf("worker %d: %s after %v failed uncleanly (hang or broken connection): %w",
				w, name, time.Since(began).Round(time.Millisecond), err)
		}
		return nil
	}
	path := func(name string) string { return fmt.Sprintf("w%d/%s", w, name) }

	for time.Now().Before(deadline) {
		switch x := rng.IntN(100); {
		case x < 35 || len(files) == 0: // create, write, commit
			seq++
			name := fmt.Sprintf("f%05d", seq)
			data := suiteRandomBytes(rng, rng.IntN(256<<10))
			var fh []byte
			var ok bool
			if e := op("CREATE", func(ctx context.Context) error {
				res, err := c.Create(ctx, dir, name, nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
				fh = res.FH
				return err
			}); e != nil {
				return e
			}
			if fh == nil {
				continue // failed: the name is never used again
			}
			if e := op("WRITE+COMMIT", func(ctx context.Context) error {
				var err error
				ok, err = fpWriteCommit(ctx, c, fh, 0, data)
				return err
			}); e != nil {
				return e
			}
			if ok {
				files = append(files, file{name, fh, data})
				acked.set(path(name), data)
			}
		case x < 55: // overwrite a range of a committed file
			i := rng.IntN(len(files))
			f := &files[i]
			off := rng.IntN(len(f.data) + 1)
			patch := suiteRandomBytes(rng, 1+rng.IntN(96<<10))
			next := append([]byte(nil), f.data...)
			if end := off + len(patch); end > len(next) {
				next = append(next, make([]byte, end-len(next))...)
			}
			copy(next[off:], patch)
			var ok bool
			if e := op("WRITE+COMMIT", func(ctx context.Context) error {
				var err error
				ok, err = fpWriteCommit(ctx, c, f.fh, uint64(off), patch)
				return err
			}); e != nil {
				return e
			}
			if ok {
				f.data = next
				acked.set(path(f.name), next)
			} else {
				// Unknown whether the patch landed: each byte is old or new.
				acked.tear(path(f.name), f.data, next)
				files = append(files[:i], files[i+1:]...)
			}
		case x < 80: // read a committed file and check it
			f := files[rng.IntN(len(files))]
			var got []byte
			if e := op("READ", func(ctx context.Context) error {
				var err error
				got, err = suiteReadAll(ctx, c, f.fh)
				return err
			}); e != nil {
				return e
			}
			if got != nil {
				if !bytes.Equal(got, f.data) {
					return fmt.Errorf("worker %d: READ of %s during faults returned %d bytes (sha256 %x), want %d bytes (sha256 %x)",
						w, path(f.name), len(got), sha256.Sum256(got), len(f.data), sha256.Sum256(f.data))
				}
				stats.readsVerified.Add(1)
				stats.bytesReadVerified.Add(int64(len(got)))
			}
		case x < 88: // rename, then COMMIT to make it durable
			i := rng.IntN(len(files))
			f := files[i]
			seq++
			to := fmt.Sprintf("r%05d", seq)
			acked.forget(path(f.name))
			files = append(files[:i], files[i+1:]...)
			var renamed bool
			if e := op("RENAME", func(ctx context.Context) error {
				_, err := c.Rename(ctx, dir, f.name, dir, to)
				renamed = err == nil
				return err
			}); e != nil {
				return e
			}
			if !renamed {
				continue // which name holds it is unknown now
			}
			if e := op("COMMIT", func(ctx context.Context) error {
				_, err := c.Commit(ctx, f.fh, 0, 0)
				if err == nil {
					acked.remove(path(f.name))
					f.name = to
					files = append(files, f)
					acked.set(path(to), f.data)
				}
				return err
			}); e != nil {
				return e
			}
		case x < 94: // remove
			i := rng.IntN(len(files))
			f := files[i]
			acked.forget(path(f.name))
			files = append(files[:i], files[i+1:]...)
			if e := op("REMOVE+COMMIT", func(ctx context.Context) error {
				if _, err := c.Remove(ctx, dir, f.name); err != nil {
					return err
				}
				// Metadata is durable at the next COMMIT; any file's will do.
				if len(files) > 0 {
					if _, err := c.Commit(ctx, files[0].fh, 0, 0); err != nil {
						return err
					}
					acked.remove(path(f.name))
				}
				return nil
			}); e != nil {
				return e
			}
		default: // metadata reads
			if e := op("GETATTR", func(ctx context.Context) error {
				_, err := c.Getattr(ctx, dir)
				return err
			}); e != nil {
				return e
			}
			if e := op("READDIRPLUS", func(ctx context.Context) error {
				_, err := c.ReaddirAll(ctx, dir, true)
				return err
			}); e != nil {
				return e
			}
		}
	}
	return nil
}

// fpWriteCommit writes data at off in UNSTABLE chunks and commits. It
// reports whether the data is acknowledged: every WRITE and the COMMIT
// succeeded with one verifier.
func fpWriteCommit(ctx context.Context, c *nfsclient.Client, fh []byte, off uint64, data []byte) (bool, error) {
	const chunk = 64 << 10
	var verf [8]byte
	for i := 0; i < len(data) || i == 0; i += chunk {
		end := min(i+chunk, len(data))
		res, err := c.Write(ctx, fh, off+uint64(i), data[i:end], nfsclient.Unstable)
		if err != nil {
			return false, err
		}
		if int(res.Count) != end-i {
			return false, fmt.Errorf("short WRITE: %d of %d bytes", res.Count, end-i)
		}
		if i > 0 && res.Verf != verf {
			return false, nil
		}
		verf = res.Verf
		if len(data) == 0 {
			break
		}
	}
	cv, err := c.Commit(ctx, fh, 0, 0)
	if err != nil {
		return false, err
	}
	return cv == verf, nil
}

// fpVerifyAcked checks every acknowledged file byte for byte and every
// acknowledged removal through a fresh mount; it returns the bytes verified.
func fpVerifyAcked(t *testing.T, addr string, acked *fpAcked, when string) int64 {
	t.Helper()
	ctx := stepContext(t)
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, _, err := c.Mount(ctx, "/faulty")
	if err != nil {
		t.Fatalf("%s: MNT: %v", when, err)
	}
	var total int64
	acked.mu.Lock()
	defer acked.mu.Unlock()
	for p, want := range acked.files {
		dirName, name, _ := strings.Cut(p, "/")
		dfh, _, err := c.Lookup(ctx, root, dirName)
		if err != nil {
			t.Fatalf("%s: LOOKUP %s: %v", when, dirName, err)
		}
		fh, _, err := c.Lookup(ctx, dfh, name)
		if err != nil {
			t.Fatalf("%s: committed file %s is missing: %v", when, p, err)
		}
		got, err := suiteReadAll(ctx, c, fh)
		if err != nil {
			t.Fatalf("%s: reading committed file %s: %v", when, p, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: committed file %s has %d bytes (sha256 %x), want %d bytes (sha256 %x)",
				when, p, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
		total += int64(len(got))
	}
	for p, v := range acked.torn {
		old, next := v[0], v[1]
		dirName, name, _ := strings.Cut(p, "/")
		dfh, _, err := c.Lookup(ctx, root, dirName)
		if err != nil {
			t.Fatalf("%s: LOOKUP %s: %v", when, dirName, err)
		}
		fh, _, err := c.Lookup(ctx, dfh, name)
		if err != nil {
			t.Fatalf("%s: file %s (last overwrite failed) is missing: %v", when, p, err)
		}
		got, err := suiteReadAll(ctx, c, fh)
		if err != nil {
			t.Fatalf("%s: reading %s (last overwrite failed): %v", when, p, err)
		}
		if len(got) < min(len(old), len(next)) || len(got) > max(len(old), len(next)) {
			t.Fatalf("%s: %s (last overwrite failed) has %d bytes, want between %d and %d", when, p, len(got), len(old), len(next))
		}
		for i, b := range got {
			if (i < len(old) && b == old[i]) || (i < len(next) && b == next[i]) || (i >= len(old) && b == 0) {
				continue
			}
			t.Fatalf("%s: %s (last overwrite failed): byte %d is %#x, neither the old nor the new content", when, p, i, b)
		}
		total += int64(len(got))
	}
	for p, gone := range acked.removed {
		if !gone {
			continue
		}
		dirName, name, _ := strings.Cut(p, "/")
		dfh, _, err := c.Lookup(ctx, root, dirName)
		if err != nil {
			t.Fatalf("%s: LOOKUP %s: %v", when, dirName, err)
		}
		if _, _, err := c.Lookup(ctx, dfh, name); err == nil {
			t.Fatalf("%s: %s exists again after its removal was committed", when, p)
		}
	}
	return total
}

// fpWaitMount waits until MNT of path succeeds on the daemon (the export
// has opened), tolerating clean failures meanwhile.
func fpWaitMount(t *testing.T, d *daemon, path string) {
	t.Helper()
	ctx := stepContext(t)
	var last error
	for end := time.Now().Add(fpOpBound); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		c, err := nfsclient.Dial(ctx, d.addr)
		if err != nil {
			last = err
			continue
		}
		_, _, err = c.Mount(ctx, path)
		c.Close()
		if err == nil {
			return
		}
		last = err
	}
	t.Fatalf("MNT %s did not succeed within %v after the restart: %v", path, fpOpBound, last)
}

// TestS3TruncatedListIsRetried is a focused check of one fault: a
// ListObjectsV2 answer with status 200 whose body is cut short must be
// retried like any other broken transfer.
func TestS3TruncatedListIsRetried(t *testing.T) {

	env := testenv.S3(t)
	proxy := startFaultProxy(t, env.Endpoint, 1, s3proxy.Rates{})
	ctx := stepContext(t)
	opts := env.Options()
	opts.Endpoint = proxy.Endpoint()
	opts.RetryBaseDelay = time.Millisecond
	store, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, "dir/object", []byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	proxy.TruncateLists(1)
	page, err := store.List(ctx, "dir/", objstore.ListOptions{})
	if err != nil {
		t.Fatalf("List with one truncated answer (then healthy ones): %v", err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != "dir/object" {
		t.Fatalf("List = %+v, want dir/object", page.Objects)
	}
	if got := proxy.Injections(s3proxy.FaultTruncate); got != 1 {
		t.Fatalf("the proxy truncated %d answers, want 1", got)
	}
}
