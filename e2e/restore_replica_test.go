package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// A unit is what the writer changes as a whole in TestReplicaFollowsRestore:
// generation g is unitFiles data files d-<g>-<i> (written once, never
// changed) and a marker gen-<g>. Going from generation c to n writes
// d-<n>-*, renames gen-<c> to gen-<n>, then removes d-<c>-*. So every state
// of the writer, listed in one READDIRPLUS, shows exactly one marker gen-x,
// every d-<x>-* whole, and besides only files of x's predecessor (whole,
// being removed) and of its successor (being written).
const unitFiles = 4

func unitName(gen, i int) string { return fmt.Sprintf("d-%06d-%d", gen, i) }

func unitMarker(gen int) string { return fmt.Sprintf("gen-%06d", gen) }

// unitData is the content of d-<gen>-<i>: its size and bytes depend on both.
func unitData(gen, i int) []byte {
	b := bytes.Repeat([]byte{byte((gen*7 + i) % 251)}, 20<<10+(gen*131+i*977)%8192)
	return append(b, fmt.Sprintf("|%s|", unitName(gen, i))...)
}

// unitWriter moves the writer's unit from generation to generation.
type unitWriter struct {
	m   *suiteMount
	cur int // 0: no unit yet
}

func (u *unitWriter) step(ctx context.Context, next int) error {
	for i := range unitFiles {
		fh, err := suiteCreate(ctx, u.m.c, u.m.root, unitName(next, i))
		if err != nil {
			return err
		}
		if err := suiteWriteAll(ctx, u.m.c, fh, 0, unitData(next, i), nfsclient.FileSync); err != nil {
			return fmt.Errorf("%s: %w", unitName(next, i), err)
		}
	}
	if u.cur == 0 {
		if _, err := suiteCreate(ctx, u.m.c, u.m.root, unitMarker(next)); err != nil {
			return err
		}
	} else if _, err := u.m.c.Rename(ctx, u.m.root, unitMarker(u.cur), u.m.root, unitMarker(next)); err != nil {
		return fmt.Errorf("RENAME %s: %w", unitMarker(u.cur), err)
	}
	if u.cur != 0 {
		for i := range unitFiles {
			if _, err := u.m.c.Remove(ctx, u.m.root, unitName(u.cur, i)); err != nil {
				return fmt.Errorf("REMOVE %s: %w", unitName(u.cur, i), err)
			}
		}
	}
	u.cur = next
	return nil
}

// unitHistory knows the writer's generations: 1..checkpoint..last before
// the restore, then (the restore taking the unit back to checkpoint)
// reopened, reopened+1... after it.
type unitHistory struct {
	checkpoint, last, reopened int
}

// neighbours returns the generations whose files may be listed besides
// gen's own: its predecessors and successors in the history.
func (h unitHistory) neighbours(gen int) (pred, succ []int) {
	switch {
	case gen == h.reopened:
		pred = []int{h.checkpoint}
	case gen > 1:
		pred = []int{gen - 1}
	}
	succ = []int{gen + 1}
	if gen == h.checkpoint {
		succ = append(succ, h.reopened)
	}
	return pred, succ
}

// unitCheck is what one consistent listing of the root (one READDIRPLUS)
// showed of the unit.
type unitCheck struct {
	gen   int            // the marker's generation
	whole map[int][]byte // handles of the marker's generation's files, by index
}

// checkUnitListing checks one listing of the root against the unit's rule.
func (h unitHistory) checkUnitListing(ents []nfsclient.DirEntry) (unitCheck, error) {
	var markers []int
	files := map[int]map[int]nfsclient.DirEntry{}
	for _, e := range ents {
		if g, ok := strings.CutPrefix(e.Name, "gen-"); ok {
			n, err := strconv.Atoi(g)
			if err != nil {
				return unitCheck{}, fmt.Errorf("marker %q", e.Name)
			}
			markers = append(markers, n)
			continue
		}
		rest, ok := strings.CutPrefix(e.Name, "d-")
		if !ok {
			continue
		}
		gs, is, _ := strings.Cut(rest, "-")
		g, err1 := strconv.Atoi(gs)
		i, err2 := strconv.Atoi(is)
		if err1 != nil || err2 != nil || i >= unitFiles {
			return unitCheck{}, fmt.Errorf("unit file %q", e.Name)
		}
		if files[g] == nil {
			files[g] = map[int]nfsclient.DirEntry{}
		}
		files[g][i] = e
	}
	if len(markers) != 1 {
		return unitCheck{}, fmt.Errorf("markers %v, want exactly one", markers)
	}
	gen := markers[0]
	out := unitCheck{gen: gen, whole: map[int][]byte{}}
	pred, succ := h.neighbours(gen)
	for g, fs := range files {
		for i, e := range fs {
			if e.Attr == nil || len(e.FH) == 0 {
				return unitCheck{}, fmt.Errorf("%s listed without attributes or handle", e.Name)
			}
			size := uint64(len(unitData(g, i)))
			switch {
			case g == gen || slices.Contains(pred, g):
				if e.Attr.Size != size {
					return unitCheck{}, fmt.Errorf("with %s, %s has %d bytes, want %d", unitMarker(gen), e.Name, e.Attr.Size, size)
				}
				if g == gen {
					out.whole[i] = e.FH
				}
			case slices.Contains(succ, g):
				if e.Attr.Size > size {
					return unitCheck{}, fmt.Errorf("with %s, %s has %d bytes, more than its %d", unitMarker(gen), e.Name, e.Attr.Size, size)
				}
			default:
				return unitCheck{}, fmt.Errorf("%s listed with %s: a mix of two states", e.Name, unitMarker(gen))
			}
		}
	}
	if len(out.whole) != unitFiles {
		return unitCheck{}, fmt.Errorf("with %s, %d of its %d files listed", unitMarker(gen), len(out.whole), unitFiles)
	}
	return out, nil
}

// readTree reads every directory and file under m's root: path -> content
// ("/" ends a directory's path; its value is empty).
func readTree(ctx context.Context, m *suiteMount) (map[string]string, error) {
	tree := map[string]string{}
	var walk func(fh []byte, prefix string) error
	walk = func(fh []byte, prefix string) error {
		ents, err := m.c.ReaddirAll(ctx, fh, true)
		if err != nil {
			return fmt.Errorf("READDIRPLUS %q: %w", prefix, err)
		}
		for _, e := range ents {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			p := prefix + e.Name
			if e.Attr == nil || len(e.FH) == 0 {
				return fmt.Errorf("%s listed without attributes or handle", p)
			}
			if e.Attr.Type == nfsclient.TypeDir {
				tree[p+"/"] = ""
				if err := walk(e.FH, p+"/"); err != nil {
					return err
				}
				continue
			}
			data, err := suiteReadAll(ctx, m.c, e.FH)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			tree[p] = string(data)
		}
		return nil
	}
	return tree, walk(m.root, "")
}

// treeDiff describes how got differs from want, shortly ("" when equal).
func treeDiff(got, want map[string]string) string {
	var d []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			d = append(d, "missing "+p)
		case g != want[p]:
			d = append(d, fmt.Sprintf("%s has %d bytes, want %d", p, len(g), len(want[p])))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			d = append(d, "extra "+p)
		}
	}
	if len(d) > 12 {
		d = append(d[:12], fmt.Sprintf("... (%d differences)", len(d)))
	}
	return strings.Join(d, "; ")
}

// waitTree waits until m serves want and returns how long that took.
func waitTree(t *testing.T, ctx context.Context, m *suiteMount, want map[string]string, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		got, err := readTree(ctx, m)
		if err == nil {
			if last = treeDiff(got, want); last == "" {
				return time.Since(start)
			}
		} else {
			last = err.Error()
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not the expected tree after %s: %s", what, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// staleOrGone reports whether err says a file is not in the state served.
func staleOrGone(err error) bool {
	s := suiteStatus(err)
	return s == uint32(nfs.StatusStale) || s == uint32(nfs.StatusNoEnt)
}

// TestReplicaFollowsRestore: a writer zerofsd and a replica zerofsd
// (replica = true) serve one store; the writer writes through NFS, a
// checkpoint is made with `zerofsd checkpoint create`, the writer changes,
// deletes and adds files, and `zerofsd checkpoint restore` rolls the store
// back, with the writer serving it or stopped (docs/config.md, Restore).
// The replica, never restarted, converges to the checkpoint's tree (files
// back, later ones gone, handles of the checkpoint's files valid, of later
// ones stale), and then follows the writer again; read all along, every
// listing it serves is one whole state of the writer's unit, and the states
// come in order (old writer's, the checkpoint's, the new writer's). The
// writer serves the restored tree, after a restart too; fsck is clean.
func TestReplicaFollowsRestore(t *testing.T) {
	tests := []struct {
		name string
		restoreCase
	}{
		{"file-serving", restoreCase{}},
		// The restore run with the replica's config: it names the same store.
		{"file-stopped-replica-config", restoreCase{writerStopped: true, fromReplicaConfig: true}},
		{"s3-serving", restoreCase{s3: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testReplicaFollowsRestore(t, tc.restoreCase)
		})
	}
}

// restoreCase is one way of running TestReplicaFollowsRestore.
type restoreCase struct {
	s3                bool
	writerStopped     bool // restore with the writer stopped, rather than serving
	fromReplicaConfig bool // run zerofsd checkpoint restore with the replica's config
}

func testReplicaFollowsRestore(t *testing.T, tc restoreCase) {
	base := t.TempDir()
	store, storeExtra := "file://"+filepath.Join(base, "store"), ""
	if tc.s3 {
		env := testenv.S3(t)
		store = "s3://" + env.Bucket + "/exports/team-a"
		storeExtra = s3ExportTable(env)
	}
	wdir, rdir := filepath.Join(base, "writer"), filepath.Join(base, "replica")
	for _, d := range []string{wdir, rdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Small memtables and GC of anything a second old, as in
	// TestReplicaDaemon: the writer flushes and collects while the replica
	// follows.
	metricsPort := freePort(t)
	writer := newDaemonWithServer(t, wdir, fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", metricsPort), []exportSpec{{
		Name: "team-a", Store: store,
		Extra: "squash = \"none\"\n" + storeExtra + "[lsm]\nmemtable_mb = 1\ngc_interval = \"1s\"\ngc_min_age = \"1s\"\nflush_interval = \"20ms\"",
	}})
	const poll = 100 * time.Millisecond
	replica := newDaemon(t, rdir, []exportSpec{{
		Name: "team-a", Store: store,
		Extra: fmt.Sprintf("squash = \"none\"\nreplica = true\nreplica_poll = %q\n%s", poll.String(), storeExtra),
	}})
	run := exportCommand(t, writer, "team-a")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	writer.Start()
	w := suiteMustDial(t, writer.addr, "/team-a")
	static, err := w.c.Mkdir(ctx, w.root, "static", nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
	if err != nil {
		t.Fatalf("MKDIR static: %v", err)
	}
	put := func(m *suiteMount, dir []byte, name, content string) {
		t.Helper()
		fh, err := suiteCreate(ctx, m.c, dir, name) // truncates an existing file, same inode
		if err != nil {
			t.Fatal(err)
		}
		if err := suiteWriteAll(ctx, m.c, fh, 0, []byte(content), nfsclient.FileSync); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	put(w, static.FH, "changed.txt", "as in the checkpoint")
	put(w, w.root, "deleted.txt", "deleted after the checkpoint")
	units := &unitWriter{m: w}
	hist := unitHistory{checkpoint: 12, last: 22, reopened: 1000}
	steps := func(from, to int) {
		t.Helper()
		for g := from; g <= to; g++ {
			if err := units.step(ctx, g); err != nil {
				t.Fatalf("writer, generation %d: %v", g, err)
			}
			time.Sleep(30 * time.Millisecond) // let the replica see many states
		}
	}
	steps(1, 3)

	replica.Start()
	r := suiteMustDial(t, replica.addr, "/team-a")

	// Readers of the replica: each listing of the root is checked whole,
	// the files of its generation read through the listed handles, and the
	// order of the generations seen followed.
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
	var listings, filesRead, sawRestored, sawReopened int
	for reader := range 2 {
		wg.Go(func() {
			m, err := suiteDial(ctx, replica.addr, "/team-a")
			if err != nil {
				fail("reader %d: %v", reader, err)
				return
			}
			defer m.c.Close()
			const (
				old = iota
				restored
				reopened
			)
			phase, prev := old, 0
			sawCheckpoint := false // the restored state
			for {
				select {
				case <-stop:
					mu.Lock()
					if sawCheckpoint {
						sawRestored++
					}
					if phase == reopened {
						sawReopened++
					}
					mu.Unlock()
					return
				default:
				}
				ents, eof, err := m.c.Readdirplus(ctx, m.root, 0, 16384, 65536)
				if err != nil {
					fail("reader %d: READDIRPLUS of the root: %v", reader, err)
					continue
				}
				if !eof {
					fail("reader %d: the root did not fit one READDIRPLUS", reader)
					continue
				}
				u, err := hist.checkUnitListing(ents)
				if err != nil {
					fail("reader %d: %v", reader, err)
					continue
				}
				g := u.gen
				switch {
				case phase == old && g >= prev && g <= hist.last:
				case phase == old && g == hist.checkpoint:
					phase, sawCheckpoint = restored, true
				case phase == restored && g == hist.checkpoint:
				case g >= hist.reopened && g >= prev: // possibly straight from the old state
					phase = reopened
				default:
					fail("reader %d: served generation %d after %d (phase %d)", reader, g, prev, phase)
				}
				prev = g
				for i, fh := range u.whole {
					name := unitName(g, i)
					got, err := suiteReadAll(ctx, m.c, fh)
					switch {
					case err != nil && staleOrGone(err): // the replica moved on
					case err != nil:
						fail("reader %d: reading %s: %v", reader, name, err)
					case !bytes.Equal(got, unitData(g, i)):
						fail("reader %d: %s holds %d bytes that are not what the writer wrote", reader, name, len(got))
					default:
						mu.Lock()
						filesRead++
						mu.Unlock()
					}
				}
				mu.Lock()
				listings++
				mu.Unlock()
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	steps(4, hist.checkpoint)
	want, err := readTree(ctx, w)
	if err != nil {
		t.Fatalf("writer's tree at the checkpoint: %v", err)
	}
	// The checkpoint holds what is in SSTs: a clean stop writes everything
	// out (see the command's help), as in TestKernelRestore.
	writer.Stop()
	run("checkpoint", "create", "--name", "before")
	writer.Start()
	w = suiteMustDial(t, writer.addr, "/team-a")
	units.m = w
	if static.FH, _, err = w.c.Lookup(ctx, w.root, "static"); err != nil {
		t.Fatalf("LOOKUP static: %v", err)
	}

	// After the checkpoint: a file changed in place, one deleted, a new
	// directory, and the unit moved on.
	put(w, static.FH, "changed.txt", "changed after the checkpoint, and longer")
	if _, err := w.c.Remove(ctx, w.root, "deleted.txt"); err != nil {
		t.Fatalf("REMOVE deleted.txt: %v", err)
	}
	later, err := w.c.Mkdir(ctx, w.root, "later", nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
	if err != nil {
		t.Fatalf("MKDIR later: %v", err)
	}
	put(w, later.FH, "new.txt", "made after the checkpoint")
	steps(hist.checkpoint+1, hist.last)
	after, err := readTree(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	lag := waitTree(t, ctx, r, after, 30*time.Second, "replica before the restore")
	t.Logf("the replica served the writer's tree before the restore after %s", lag)
	changedFH, err := lookupPath(ctx, r, "static/changed.txt")
	if err != nil {
		t.Fatal(err)
	}
	newFH, err := lookupPath(ctx, r, "later/new.txt")
	if err != nil {
		t.Fatal(err)
	}

	if tc.writerStopped {
		writer.Stop()
	}
	began := time.Now()
	restore := run
	if tc.fromReplicaConfig {
		restore = exportCommand(t, replica, "team-a")
	}
	out := restore("checkpoint", "restore", "--name", "before", "--undo", "undo-1")
	t.Logf("restore (%s): %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(out))
	followed := waitTree(t, ctx, r, want, 30*time.Second, "replica after the restore")
	t.Logf("the replica served the restored tree %s after the restore's end", followed)
	// Handles: the checkpoint's file keeps its handle and its content there;
	// a later file is stale.
	if got, err := suiteReadAll(ctx, r.c, changedFH); err != nil || string(got) != "as in the checkpoint" {
		t.Errorf("replica: static/changed.txt through its handle: %q, %v", got, err)
	}
	if _, err := r.c.Getattr(ctx, newFH); !staleOrGone(err) {
		t.Errorf("replica: later/new.txt through its handle after the restore: %v, want NFS3ERR_STALE", err)
	}

	if tc.writerStopped {
		writer.Start()
	} else {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(writer.Logs(), "serving the restored tree") {
			if time.Now().After(deadline) {
				t.Fatalf("the writer did not reopen the restored store:\n%s", tail(writer.Logs(), 40))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The same mount of the reopened writer.
		waitTree(t, ctx, w, want, 10*time.Second, "writer after the restore, same mount")
		writer.Stop()
		writer.Start()
	}
	w = suiteMustDial(t, writer.addr, "/team-a")
	if got, err := readTree(ctx, w); err != nil || treeDiff(got, want) != "" {
		t.Fatalf("the restarted writer does not serve the restored tree: %v %s", err, treeDiff(got, want))
	}

	// The writer goes on from the restored state, long enough for its GC
	// to run (gc_interval 1s) while the replica follows.
	units.m, units.cur = w, hist.checkpoint
	steps(hist.reopened, hist.reopened+80)
	final, err := readTree(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	waitTree(t, ctx, r, final, 30*time.Second, "replica after the writer's new writes")

	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("replica readers: %d whole listings, %d unit files read byte for byte; readers that saw the restored state %d/2, the new writer's %d/2",
		listings, filesRead, sawRestored, sawReopened)
	if sawRestored != 2 || sawReopened != 2 {
		t.Errorf("a reader did not see the restored state or the new writer's")
	}
	if strings.Contains(writer.Logs(), "fenced by another writer") {
		t.Errorf("the restore was taken for another writer:\n%s", tail(writer.Logs(), 30))
	}
	wurl := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	tables := scrape(t, wurl, `zerofs_lsm_tables{export="team-a"}`)
	compactions := scrape(t, wurl, `zerofs_lsm_compactions_total{export="team-a"}`)
	deletes := scrape(t, wurl, `zerofs_objstore_requests_total{export="team-a",op="delete"}`)
	t.Logf("the writer since its restart after the restore: %v SSTs, %v compactions, %v objects deleted", tables, compactions, deletes)
	if deletes <= 0 {
		t.Errorf("the writer deleted %v objects after the restore: its GC was not exercised", deletes)
	}
	replica.Stop()
	writer.Stop()
	for _, args := range [][]string{{"fsck"}, {"fsck", "--checkpoint", "undo-1"}, {"fsck", "--checkpoint", "before"}} {
		if out := run(args...); !strings.Contains(out, "clean") {
			t.Errorf("zerofsd %v:\n%s", args, out)
		}
	}
	if out := run("checkpoint", "list"); !strings.Contains(out, "before") || !strings.Contains(out, "undo-1") {
		t.Errorf("checkpoint list after the restore:\n%s", out)
	}
}

// TestUnitListingRule: the rule TestReplicaFollowsRestore checks each
// listing of the replica against accepts every state the writer goes
// through and refuses a mix of two.
func TestUnitListingRule(t *testing.T) {
	h := unitHistory{checkpoint: 12, last: 22, reopened: 1000}
	file := func(gen, i int, size uint64) nfsclient.DirEntry {
		return nfsclient.DirEntry{Name: unitName(gen, i), Attr: &nfsclient.Fattr{Size: size}, FH: []byte{1}}
	}
	whole := func(gen int) []nfsclient.DirEntry {
		var ents []nfsclient.DirEntry
		for i := range unitFiles {
			ents = append(ents, file(gen, i, uint64(len(unitData(gen, i)))))
		}
		return ents
	}
	marker := func(gen int) nfsclient.DirEntry { return nfsclient.DirEntry{Name: unitMarker(gen)} }
	other := nfsclient.DirEntry{Name: "static"}
	tests := []struct {
		name string
		ents []nfsclient.DirEntry
		ok   bool
	}{
		{"whole", append(whole(5), marker(5), other), true},
		{"successor being written", append(append(whole(5), marker(5)), file(6, 0, 100)), true},
		{"predecessor being removed", append(append(whole(5), marker(5)), whole(4)[1:]...), true},
		{"the new writer's first", append(append(whole(1000), marker(1000)), whole(12)[2:]...), true},
		{"the checkpoint, then the new writer's", append(append(whole(12), marker(12)), file(1000, 0, 7)), true},
		{"no marker", whole(5), false},
		{"two markers", append(whole(5), marker(5), marker(6)), false},
		{"a file of the generation missing", append(whole(5)[1:], marker(5)), false},
		{"a file of the generation in part", append(append(whole(5)[1:], marker(5)), file(5, 0, 10)), false},
		{"the checkpoint with a later file", append(append(whole(12), marker(12)), file(15, 0, 10)), false},
		{"the new writer's with an old writer's file", append(append(whole(1001), marker(1001)), file(22, 0, 10)), false},
		{"a predecessor in part", append(append(whole(5), marker(5)), file(4, 0, 10)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.checkUnitListing(tc.ents)
			if (err == nil) != tc.ok {
				t.Fatalf("checkUnitListing: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
