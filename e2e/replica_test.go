package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"
)

// replicaData is the content of data-<round>: one byte repeated, then the
// round, so a file seen in part or from another round is caught.
func replicaData(round int) []byte {
	b := bytes.Repeat([]byte{byte(round % 251)}, 32<<10)
	return append(b, fmt.Sprintf("|round=%08d|", round)...)
}

// benign reports whether a replica's error is the state it serves (a file
// the writer deleted between two calls), not a failure.
func benign(err error) bool {
	var ne *nfsc.Error
	return errors.Is(err, os.ErrNotExist) || (errors.As(err, &ne) && ne.ErrorNum == 70) // NFS3ERR_STALE
}

// readAllFrom reads the file name through target.
func readAllFrom(target *nfsc.Target, name string) ([]byte, error) {
	f, err := target.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestReplicaDaemon: two zerofsd processes on one store, a writer and a
// replica (replica = true), under a write workload on the writer with
// memtables, compactions and GC forced often (gc_min_age 1s): the replica
// never answers an error or a file in part, catches up with the writer's
// last write, reports a lag that agrees with the clock, and the writer is
// never fenced. How far behind it was is logged, not asserted: a loaded
// machine may poll late.
func TestReplicaDaemon(t *testing.T) {
	base := t.TempDir()
	store := "file://" + filepath.Join(base, "store")
	wdir, rdir := filepath.Join(base, "writer"), filepath.Join(base, "replica")
	os.MkdirAll(wdir, 0o755)
	os.MkdirAll(rdir, 0o755)
	wm, rm := freePort(t), freePort(t)
	writer := newDaemonWithServer(t, wdir, fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", wm), []exportSpec{{
		Name: "team-a", Store: store,
		Extra: "squash = \"none\"\n[lsm]\nmemtable_mb = 1\ngc_interval = \"1s\"\ngc_min_age = \"1s\"\nflush_interval = \"20ms\"",
	}})
	writer.Start()
	w, _ := mountGo(t, writer.addr, "/team-a")
	writeFile(t, w, "clock", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))

	const poll = 200 * time.Millisecond
	replica := newDaemonWithServer(t, rdir, fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", rm), []exportSpec{{
		Name: "team-a", Store: store,
		Extra: fmt.Sprintf("squash = \"none\"\nreplica = true\nreplica_poll = %q", poll.String()),
	}})
	replica.Start()
	r, _ := mountGo(t, replica.addr, "/team-a")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	var maxLag time.Duration
	var reads, filesChecked int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// How far behind: the writer's clock file, written durably.
			before := time.Now()
			data, err := readAllFrom(r, "clock")
			if err != nil {
				fail("replica: read clock: %v", err)
				continue
			}
			ts, err := strconv.ParseInt(string(data), 10, 64)
			if err != nil {
				fail("replica: clock holds %q", data)
				continue
			}
			mu.Lock()
			maxLag = max(maxLag, before.Sub(time.Unix(0, ts)))
			reads++
			mu.Unlock()

			ents, err := r.ReadDirPlus(".")
			if err != nil {
				fail("replica: readdirplus: %v", err)
				continue
			}
			for _, e := range ents {
				name := e.Name()
				round, ok := strings.CutPrefix(name, "data-")
				if !ok {
					continue
				}
				n, _ := strconv.Atoi(round)
				f, err := r.Open(name)
				if err != nil {
					if !benign(err) {
						fail("replica: open %s: %v", name, err)
					}
					continue
				}
				got, err := io.ReadAll(f)
				f.Close()
				switch {
				case err != nil && !benign(err):
					fail("replica: read %s: %v", name, err)
				case err != nil:
				case len(got) == 0: // created, its WRITE not yet there: a state the writer had
				case !bytes.Equal(got, replicaData(n)):
					fail("replica: %s holds %d bytes that are not what the writer wrote (torn or mixed)", name, len(got))
				default:
					mu.Lock()
					filesChecked++
					mu.Unlock()
				}
			}
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	round := 0
	for time.Now().Before(deadline) {
		round++
		writeFile(t, w, fmt.Sprintf("data-%06d", round), replicaData(round))
		if round > 8 {
			if err := w.Remove(fmt.Sprintf("data-%06d", round-8)); err != nil {
				t.Fatalf("writer: remove: %v", err)
			}
		}
		f, err := w.OpenFile("clock", 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(strconv.FormatInt(time.Now().UnixNano(), 10))); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	// The replica catches up with the last write (the deadline is for a
	// replica that never does, not a speed).
	last := replicaData(round + 1)
	writeFile(t, w, "last", last)
	for deadline := time.Now().Add(time.Minute); ; {
		got, err := readAllFrom(r, "last")
		if err == nil && bytes.Equal(got, last) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica does not serve the writer's last write a minute later: %d bytes, %v", len(got), err)
		}
		time.Sleep(poll / 4)
	}

	wurl := fmt.Sprintf("http://127.0.0.1:%d/metrics", wm)
	rurl := fmt.Sprintf("http://127.0.0.1:%d/metrics", rm)
	compactions := scrape(t, wurl, `zerofs_lsm_compactions_total{export="team-a"}`)
	deletes := scrape(t, wurl, `zerofs_objstore_requests_total{export="team-a",op="delete"}`)
	refreshFailures := scrape(t, rurl, `zerofs_replica_refresh_failures_total{export="team-a"}`)
	// The lag gauge agrees with the clock: a refresh that began after
	// `before` (the one after the next counted; the next may have been
	// under way) restarts it, so from then on it is never more than the
	// time since before, nor negative. Both processes share this clock.
	before := time.Now()
	refreshes := scrape(t, rurl, `zerofs_replica_refreshes_total{export="team-a"}`)
	for deadline := time.Now().Add(time.Minute); scrape(t, rurl, `zerofs_replica_refreshes_total{export="team-a"}`) < refreshes+3; {
		if time.Now().After(deadline) {
			t.Fatalf("the replica stopped refreshing (%v refreshes a minute ago)", refreshes)
		}
		time.Sleep(poll / 4)
	}
	lag := scrape(t, rurl, `zerofs_replica_lag_seconds{export="team-a"}`)
	sinceBefore := time.Since(before)
	t.Logf("%d rounds written; replica: %d reads, %d files checked byte for byte, max lag seen %s, lag gauge %.3fs, %v refresh failures; writer: %v compactions, %v objects deleted",
		round, reads, filesChecked, maxLag, lag, refreshFailures, compactions, deletes)
	if lag < 0 || lag > sinceBefore.Seconds() {
		t.Errorf("lag gauge %.3fs after a refresh that began less than %s ago", lag, sinceBefore)
	}
	if compactions <= 0 || deletes <= 0 {
		t.Errorf("the writer compacted %v times and deleted %v objects: GC was not exercised", compactions, deletes)
	}
	if filesChecked == 0 {
		t.Error("the replica checked no file")
	}
	if strings.Contains(writer.Logs(), "FENCED") {
		t.Errorf("the writer was fenced:\n%s", tail(writer.Logs(), 30))
	}
	// The replica's lease is in the store while it runs, and gone after a
	// clean stop.
	leases, _ := filepath.Glob(filepath.Join(base, "store", "leases", "*"))
	if len(leases) != 1 {
		t.Errorf("leases while the replica runs: %v", leases)
	}
	replica.Stop()
	leases, _ = filepath.Glob(filepath.Join(base, "store", "leases", "*"))
	if len(leases) != 0 {
		t.Errorf("leases after the replica stopped: %v", leases)
	}
	writer.Stop()
}
