package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestShutdownBoundedWithStoreDown: with the object store unreachable, NFS
// WRITEs fill the memtables until they block (backpressure). On SIGTERM the
// daemon must still exit within server.shutdown_timeout plus a margin, with
// status 1, logging at ERROR, naming the export, what it could not make
// durable. A file committed before the outage is intact after a restart, and
// a shutdown with the store up exits 0.
func TestShutdownBoundedWithStoreDown(t *testing.T) {
	env := testenv.S3(t)
	proxy := startFaultProxy(t, env.Endpoint, 1, s3proxy.Rates{})
	dir := t.TempDir()
	d := newDaemon(t, dir, nil)
	mport := freePort(t)
	const timeout = 4 * time.Second
	cfg := fmt.Sprintf(`[server]
listen = %q
log_level = "info"
metrics_listen = "127.0.0.1:%d"
shutdown_timeout = %q

[cache]
dir = %q
size_gb = 0.5

[[exports]]
name = "shut"
path = "/shut"
store = "s3://%s/fs"
squash = "none"

[exports.s3]
endpoint = %q
allow_http = true
region = %q
access_key_id = %q
secret_access_key = %q
`, d.addr, mport, timeout.String(), filepath.Join(dir, "cache"), env.Bucket, proxy.Endpoint(), env.Region, env.AccessKeyID, env.SecretAccessKey)
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer func() {
		if t.Failed() {
			t.Logf("zerofsd log (tail):\n%s", tail(d.Logs(), 60))
		}
	}()
	ctx := stepContext(t)
	c, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, _, err := c.Mount(ctx, "/shut")
	if err != nil {
		t.Fatal(err)
	}

	// Committed while the store is up: must survive whatever follows.
	committed := bytes.Repeat([]byte("committed before the outage\n"), 10000)
	res, err := c.Create(ctx, root, "committed", nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, res.FH, 0, committed, nfsclient.Unstable); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, res.FH, 0, 0); err != nil {
		t.Fatal(err)
	}
	files := make([][]byte, 4)
	for i := range files {
		res, err := c.Create(ctx, root, fmt.Sprintf("fill%d", i), nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		files[i] = res.FH
	}

	// The store goes down; writers fill the memtables until the writes
	// block for room.
	proxy.SetEnabled(true)
	proxy.SetDown(true)
	var written atomic.Int64
	var wg sync.WaitGroup
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	for i, fh := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := nfsclient.Dial(wctx, d.addr)
			if err != nil {
				return
			}
			defer wc.Close()
			// Random data: zeros would be stored as holes.
			buf := make([]byte, 1<<20)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for off := uint64(0); ; off += uint64(len(buf)) {
				for j := 0; j < len(buf); j += 8 {
					v := rng.Uint64()
					for k := range 8 {
						buf[j+k] = byte(v >> (8 * k))
					}
				}
				if _, err := wc.Write(wctx, fh, off, buf, nfsclient.Unstable); err != nil {
					return // the daemon went away, or the test ended
				}
				written.Add(int64(len(buf)))
			}
		}()
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if scrape(t, metrics, `zerofs_lsm_backpressure_waits_total\{export="shut"\}`) > 0 {
			// Writes are waiting for room: let them all pile up.
			before := written.Load()
			time.Sleep(time.Second)
			if written.Load() == before {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes never blocked for room; %d bytes written", written.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d MiB written before the writes blocked", written.Load()>>20)

	start := time.Now()
	margin := 20 * time.Second
	err = d.signalWithin(syscall.SIGTERM, timeout+margin)
	took := time.Since(start)
	stopWriters()
	wg.Wait()
	if errors.Is(err, errNoExit) {
		t.Fatalf("SIGTERM with calls blocked on a down store: %v (shutdown_timeout %v)", err, timeout)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit after an incomplete shutdown = %v, want status 1", err)
	}
	t.Logf("exited with status 1 %v after SIGTERM (shutdown_timeout %v)", took.Round(time.Millisecond), timeout)

	logs := d.Logs()
	var lostLine string
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "export=shut") && strings.Contains(line, "lost_wal_bytes=") {
			lostLine = line
		}
	}
	if lostLine == "" {
		t.Fatalf("no ERROR line naming the export and what was lost")
	}
	m := regexp.MustCompile(`lost_wal_bytes=(\d+)`).FindStringSubmatch(lostLine)
	if n, _ := strconv.ParseInt(m[1], 10, 64); n == 0 {
		t.Fatalf("the ERROR line reports no lost WAL bytes after %d MiB of writes never made durable: %s", written.Load()>>20, lostLine)
	}
	t.Logf("logged: %s", lostLine)

	// With the store back, what was committed is there, and a shutdown
	// with nothing pending exits 0.
	proxy.SetDown(false)
	d.Start()
	c2, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	root2, _, err := c2.Mount(ctx, "/shut")
	if err != nil {
		t.Fatal(err)
	}
	fh, _, err := c2.Lookup(ctx, root2, "committed")
	if err != nil {
		t.Fatalf("the file committed before the outage: %v", err)
	}
	var got []byte
	for len(got) < len(committed)+1 {
		r, err := c2.Read(ctx, fh, uint64(len(got)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Data...)
		if r.EOF {
			break
		}
	}
	if !bytes.Equal(got, committed) {
		t.Fatalf("the file committed before the outage reads back %d bytes, want %d identical ones", len(got), len(committed))
	}
	c2.Close()
	d.Stop()
}
