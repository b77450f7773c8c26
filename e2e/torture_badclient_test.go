package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
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

// bcStats counts what the bad clients sent and got.
type bcStats struct {
	conns, records, bytes   atomic.Int64
	replies, closedByServer atomic.Int64
	byKind                  [bcNumKinds]atomic.Int64
	goodOps, goodBytes      atomic.Int64
}

// TestTortureBadClients sends random and malformed RPC records from many
// connections at once while a well-behaved client keeps writing, reading
// and checking files on another export: every one of its calls must
// succeed with the right answer throughout, the daemon must stay up and
// fsck must be clean at the end.
func TestTortureBadClients(t *testing.T) {
	seed := suiteSeed(t)
	dir := t.TempDir()
	d := newDaemon(t, dir, nil)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`[server]
listen = %q
log_level = "info"
metrics_listen = %q
portmapper = "off"

[cache]
dir = %q
size_gb = 0.5

[[exports]]
name = "good"
path = "/good"
store = "file://%s"
squash = "none"

[[exports]]
name = "bad"
path = "/bad"
store = "file://%s"
squash = "none"
`, d.addr, metricsAddr, filepath.Join(dir, "cache"), filepath.Join(dir, "good"), filepath.Join(dir, "bad"))
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

	// The bad clients' playground: a world-writable directory and a file.
	setup, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	badRoot, _, err := setup.Mount(ctx, "/bad")
	if err != nil {
		t.Fatalf("MNT /bad: %v", err)
	}
	play, err := setup.Mkdir(ctx, badRoot, "play", nfsclient.Sattr{Mode: nfsclient.U32(0o777)})
	if err != nil {
		t.Fatal(err)
	}
	junk, err := setup.Create(ctx, play.FH, "junk", nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o666)}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Write(ctx, junk.FH, 0, bytes.Repeat([]byte("junk"), 20000), nfsclient.FileSync); err != nil {
		t.Fatal(err)
	}
	setup.Close()
	tmpl := bcMakeTemplates(badRoot, play.FH, junk.FH)

	duration := fpDuration(15*time.Second, 2*time.Minute)
	stats := &bcStats{}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	var failures []error
	var failMu sync.Mutex
	fail := func(err error) {
		failMu.Lock()
		failures = append(failures, err)
		failMu.Unlock()
	}

	// Connections that start a record and never finish it, held open
	// for the whole run.
	var held []net.Conn
	for i := range 64 {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatalf("holding connection %d: %v", i, err)
		}
		c.Write([]byte{0x80, 0, 0x10, 0, 1, 2, 3})
		held = append(held, c)
	}

	const badClients = 32
	for i := range badClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(1000+i)))
			for time.Now().Before(deadline) {
				if err := bcOneConnection(d.addr, rng, tmpl, stats); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			if err := bcGoodClient(d.addr, i, rng, deadline, stats); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	for _, c := range held {
		c.Close()
	}
	for _, err := range failures {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	if err := fpNullPing(d.addr, 30*time.Second); err != nil {
		t.Fatalf("the daemon does not answer NULL after the bad clients: %v", err)
	}
	// Every connection is released once its client is gone.
	var conns, inflight float64
	for end := time.Now().Add(60 * time.Second); ; {
		m, err := bcMetrics(metricsAddr)
		if err != nil {
			t.Fatalf("reading metrics: %v", err)
		}
		conns, inflight = m["zerofs_nfs_connections"], m["zerofs_nfs_calls_in_flight"]
		if conns == 0 && inflight == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("a minute after every client left the daemon still counts %v open connections and %v calls in flight", conns, inflight)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mem := bcProcMemory(d)
	if strings.Contains(d.Logs(), "panic") {
		t.Fatalf("the daemon logged a panic:\n%s", tail(d.Logs(), 60))
	}
	d.Stop() // a clean exit (status 0) after all that
	for _, name := range []string{"good", "bad"} {
		if out, err := runBinary(t, "fsck", "-c", d.config, "--export", name); err != nil {
			t.Fatalf("fsck of %s after the bad clients: %v\n%s", name, err, out)
		}
	}
	var kinds []string
	for k := range bcNumKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, stats.byKind[k].Load()))
	}
	t.Logf("daemon memory after the run: %s", mem)
	t.Logf("PROVED: for %v, %d bad clients opened %d connections (plus 64 held half-sent records) and sent %d records (%d bytes; connections by kind: %s), "+
		"got %d well-formed replies and %d connections closed by the server, and every connection was released after; meanwhile the good client's %d calls "+
		"(%d bytes written and read back) all succeeded with correct answers; the daemon stayed up, exited cleanly on SIGTERM, fsck clean on both exports; seed %d",
		duration, badClients, stats.conns.Load(), stats.records.Load(), stats.bytes.Load(), strings.Join(kinds, ", "),
		stats.replies.Load(), stats.closedByServer.Load(), stats.goodOps.Load(), stats.goodBytes.Load(), seed)
}

// bcMetrics reads the daemon's unlabelled metric samples.
func bcMetrics(addr string) (map[string]float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
