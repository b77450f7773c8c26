package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// The crash loop: workers write (random offsets and sizes, partial chunks,
// holes), truncate, rename, link and unlink through our own NFS client, with
// COMMITs and FILE_SYNC writes, while the test kills zerofsd with SIGKILL at a
// random moment and restarts it.
//
// The model. Each worker owns one directory and a few files created before
// the loop, and issues one request at a time, so its requests reach the
// server's key-value store in order. kvfs's KV contract (and the LSM's WAL,
// replayed in order) keeps after a crash exactly some prefix of the write
// order that includes everything acknowledged durable. So after a restart a
// worker's directory and files must equal one of the states its model went
// through since its last durable acknowledgement (a COMMIT reply, a FILE_SYNC
// WRITE reply, or any metadata reply on a sync = "strict" export), including
// the state after the request in flight at the kill. Anything older than the
// last durable acknowledgement, or any mixture of states, is a failure. The
// test then continues from the state it found, with the handles from before
// the crash (ESTALE for a file that exists is a failure).

const (
	crashFilesPerWorker = 3
	crashMaxFileSize    = 384 << 10
)

// crashState is one state of a worker's directory: names to file index, and
// the content of each file. Contents are never modified in place, so a
// state is copied by copying the map and the slice of slices.
type crashState struct {
	names    map[string]int
	contents [][]byte
}

func (s crashState) clone() crashState {
	return crashState{names: maps.Clone(s.names), contents: slices.Clone(s.contents)}
}

func (s crashState) equal(o crashState) bool {
	if !maps.Equal(s.names, o.names) || len(s.contents) != len(o.contents) {
		return false
	}
	for i := range s.contents {
		if !bytes.Equal(s.contents[i], o.contents[i]) {
			return false
		}
	}
	return true
}

func (s crashState) String() string {
	names := slices.Sorted(maps.Keys(s.names))
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s->f%d ", n, s.names[n])
	}
	for i, c := range s.contents {
		fmt.Fprintf(&b, "| f%d %d bytes sha256 %s ", i, len(c), suiteSum(c))
	}
	return b.String()
}

type crashWorker struct {
	id     int
	export string
	strict bool
	rng    *rand.Rand

	dirName string
	dir     []byte
	fhs     [][]byte
	fileIDs []uint64

	cur      crashState
	history  []crashState // states since the last durable acknowledgement; history[0] is durable
	nextName int

	// counters for the report
	ops, commits, fileSyncs, writes, truncates, renames, links, removes, reads int
	inFlight                                                                   string
}

// crashOp is one request of the workload: do sends it, next is the state it
// leads to, durable says whether its reply makes that state durable.
type crashOp struct {
	name    string
	next    crashState
	durable bool
	do      func(ctx context.Context, c *nfsclient.Client) error
}

func (w *crashWorker) namesOf(file int) []string {
	var out []string
	for n, f := range w.cur.names {
		if f == file {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (w *crashWorker) freshName() string {
	w.nextName++
	return fmt.Sprintf("n%d", w.nextName)
}

// pickOp draws the next request.
func (w *crashWorker) pickOp() crashOp {
	rng := w.rng
	file := rng.IntN(len(w.fhs))
	fh := w.fhs[file]
	p := rng.IntN(100)
	switch {
	case p < 45: // WRITE, UNSTABLE or FILE_SYNC
		old := w.cur.contents[file]
		off := rng.IntN(len(old) + 16<<10)
		var n int
		switch rng.IntN(3) {
		case 0:
			n = 1 + rng.IntN(200)
		case 1:
			n = 1 + rng.IntN(8<<10)
		default:
			n = 1 + rng.IntN(96<<10)
		}
		if off+n > crashMaxFileSize {
			off = rng.IntN(crashMaxFileSize / 2)
			n = min(n, crashMaxFileSize-off)
		}
		data := suiteRandomBytes(rng, n)
		content := make([]byte, max(len(old), off+n))
		copy(content, old)
		copy(content[off:], data)
		next := w.cur.clone()
		next.contents[file] = content
		stable := uint32(nfsclient.Unstable)
		name := "WRITE UNSTABLE"
		if p < 12 {
			stable, name = nfsclient.FileSync, "WRITE FILE_SYNC"
		}
		return crashOp{
			name: fmt.Sprintf("%s f%d [%d,+%d)", name, file, off, n), next: next, durable: stable == nfsclient.FileSync,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				r, err := c.Write(ctx, fh, uint64(off), data, stable)
				if err != nil {
					return err
				}
				if int(r.Count) != n {
					return fmt.Errorf("short write: %d of %d bytes", r.Count, n)
				}
				if stable == nfsclient.FileSync && r.Committed != nfsclient.FileSync {
					return fmt.Errorf("FILE_SYNC write answered committed=%d", r.Committed)
				}
				return nil
			},
		}
	case p < 55: // truncate (SETATTR size), shorter or longer
		old := w.cur.contents[file]
		size := rng.IntN(crashMaxFileSize / 2)
		if rng.IntN(2) == 0 && len(old) > 0 {
			size = rng.IntN(len(old))
		}
		content := make([]byte, size)
		copy(content, old)
		next := w.cur.clone()
		next.contents[file] = content
		return crashOp{
			name: fmt.Sprintf("SETATTR f%d size %d", file, size), next: next, durable: w.strict,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				_, err := c.Setattr(ctx, fh, nfsclient.Sattr{Size: nfsclient.U64(uint64(size))}, nil)
				return err
			},
		}
	case p < 65: // RENAME to a fresh name
		names := w.namesOf(file)
		from := names[rng.IntN(len(names))]
		to := w.freshName()
		next := w.cur.clone()
		delete(next.names, from)
		next.names[to] = file
		dir := w.dir
		return crashOp{
			name: fmt.Sprintf("RENAME %s -> %s", from, to), next: next, durable: w.strict,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				_, err := c.Rename(ctx, dir, from, dir, to)
				return err
			},
		}
	case p < 72: // LINK under a fresh name
		to := w.freshName()
		next := w.cur.clone()
		next.names[to] = file
		dir := w.dir
		return crashOp{
			name: fmt.Sprintf("LINK f%d as %s", file, to), next: next, durable: w.strict,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				_, err := c.Link(ctx, fh, dir, to)
				return err
			},
		}
	case p < 79: // REMOVE one of several names (a file keeps at least one)
		names := w.namesOf(file)
		if len(names) < 2 {
			return w.commitOp(file)
		}
		victim := names[rng.IntN(len(names))]
		next := w.cur.clone()
		delete(next.names, victim)
		dir := w.dir
		return crashOp{
			name: fmt.Sprintf("REMOVE %s (f%d)", victim, file), next: next, durable: w.strict,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				_, err := c.Remove(ctx, dir, victim)
				return err
			},
		}
	case p < 90:
		return w.commitOp(file)
	default: // READ back and compare with the model
		want := w.cur.contents[file]
		return crashOp{
			name: fmt.Sprintf("READ f%d", file), next: w.cur,
			do: func(ctx context.Context, c *nfsclient.Client) error {
				got, err := suiteReadAll(ctx, c, fh)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, want) {
					return fmt.Errorf("live read of f%d: %d bytes sha256 %s, want %d bytes sha256 %s",
						file, len(got), suiteSum(got), len(want), suiteSum(want))
				}
				return nil
			},
		}
	}
}

func (w *crashWorker) commitOp(file int) crashOp {
	fh := w.fhs[file]
	return crashOp{
		name: fmt.Sprintf("COMMIT f%d", file), next: w.cur, durable: true,
		do: func(ctx context.Context, c *nfsclient.Client) error {
			_, err := c.Commit(ctx, fh, 0, 0)
			return err
		},
	}
}

// run issues requests until stop is closed or a request fails. A failure
// after killed was set is the crash; before it, a real error.
func (w *crashWorker) run(ctx context.Context, c *nfsclient.Client, stop <-chan struct{}, killed *atomic.Bool) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		op := w.pickOp()
		w.inFlight = op.name
		err := op.do(ctx, c)
		if err != nil {
			if killed.Load() {
				// The request may or may not have been applied.
				if !op.next.equal(w.cur) {
					w.history = append(w.history, op.next)
				}
				return nil
			}
			return fmt.Errorf("worker %d (%s): %s: %w", w.id, w.export, op.name, err)
		}
		w.ops++
		switch {
		case strings.HasPrefix(op.name, "COMMIT"):
			w.commits++
		case strings.HasPrefix(op.name, "WRITE FILE_SYNC"):
			w.fileSyncs++
			w.writes++
		case strings.HasPrefix(op.name, "WRITE"):
			w.writes++
		case strings.HasPrefix(op.name, "SETATTR"):
			w.truncates++
		case strings.HasPrefix(op.name, "RENAME"):
			w.renames++
		case strings.HasPrefix(op.name, "LINK"):
			w.links++
		case strings.HasPrefix(op.name, "REMOVE"):
			w.removes++
		case strings.HasPrefix(op.name, "READ"):
			w.reads++
		}
		w.cur = op.next
		if op.durable {
			w.history = []crashState{w.cur}
		} else if !w.cur.equal(w.history[len(w.history)-1]) {
			w.history = append(w.history, w.cur)
		}
	}
}

// observe reads the worker's directory and files as the server has them now,
// through the handles from before the restart.
func (w *crashWorker) observe(ctx context.Context, c *nfsclient.Client) (crashState, int64, error) {
	st := crashState{names: map[string]int{}, contents: make([][]byte, len(w.fhs))}
	ents, err := c.ReaddirAll(ctx, w.dir, false)
	if err != nil {
		return st, 0, fmt.Errorf("READDIR of %s with the old handle: %w", w.dirName, err)
	}
	for _, e := range ents {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		idx := slices.Index(w.fileIDs, e.FileID)
		if idx < 0 {
			return st, 0, fmt.Errorf("%s/%s has file id %d, none of the worker's files %v", w.dirName, e.Name, e.FileID, w.fileIDs)
		}
		st.names[e.Name] = idx
	}
	var bytesRead int64
	for i, fh := range w.fhs {
		data, err := suiteReadAll(ctx, c, fh)
		if err != nil {
			return st, 0, fmt.Errorf("%s f%d through its old handle: %w", w.dirName, i, err)
		}
		st.contents[i] = data
		bytesRead += int64(len(data))
		attr, err := c.Getattr(ctx, fh)
		if err != nil {
			return st, 0, fmt.Errorf("%s f%d: GETATTR through its old handle: %w", w.dirName, i, err)
		}
		links := 0
		for _, f := range st.names {
			if f == i {
				links++
			}
		}
		if int(attr.Nlink) != links {
			return st, 0, fmt.Errorf("%s f%d: nlink %d, but %d names in its directory point to it", w.dirName, i, attr.Nlink, links)
		}
	}
	return st, bytesRead, nil
}

// TestTortureCrashLoop runs the crash loop on local-directory stores and,
// when versitygw is installed, on S3. Each store kind has two exports: one
// with sync = "commit", one with sync = "strict". The -local variants run it
// with durability = "local" (a strict export by default, and one that opts
// into sync = "commit"): replies wait for the local journal, and every
// restart first ships the journal's tail to the store; "file-local
// encrypted" does so with the journal sealed.
func TestTortureCrashLoop(t *testing.T) {
	rounds, localRounds := 10, 5
	if suiteTortureOn() {
		rounds, localRounds = 100, 100
	}
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		runCrashLoop(t, dir, rounds, []exportSpec{
			{Name: "crash-commit", Store: "file://" + filepath.Join(dir, "store-commit"), Extra: `squash = "none"`},
			{Name: "crash-strict", Store: "file://" + filepath.Join(dir, "store-strict"), Extra: "squash = \"none\"\nsync = \"strict\""},
		})
	})
	t.Run("file encrypted", func(t *testing.T) {
		// Fewer rounds: the same loop, with every object sealed and the
		// disk cache below the sealing; fsck opens through the keyring.
		dir := t.TempDir()
		key := filepath.Join(dir, "export.key")
		if err := os.WriteFile(key, []byte(strings.Repeat("3c", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		enc := fmt.Sprintf("squash = \"none\"\nencryption = true\nkey_file = %q\n", key)
		runCrashLoop(t, dir, max(rounds/2, 1), []exportSpec{
			{Name: "crash-commit", Store: "file://" + filepath.Join(dir, "store-commit"), Extra: enc},
			{Name: "crash-strict", Store: "file://" + filepath.Join(dir, "store-strict"), Extra: enc + "sync = \"strict\""},
		})
	})
	t.Run("s3", func(t *testing.T) {
		env := testenv.S3(t)
		runCrashLoop(t, t.TempDir(), rounds, []exportSpec{
			{Name: "crash-commit", Store: "s3://" + env.Bucket + "/commit", Extra: s3ExportExtra(env)},
			{Name: "crash-strict", Store: "s3://" + env.Bucket + "/strict", Extra: "sync = \"strict\"\n" + s3ExportExtra(env)},
		})
	})
	t.Run("file-local", func(t *testing.T) {
		dir := t.TempDir()
		runCrashLoop(t, dir, localRounds, []exportSpec{
			{Name: "crash-local-commit", Store: "file://" + filepath.Join(dir, "store-local-commit"), Extra: "squash = \"none\"\ndurability = \"local\"\nsync = \"commit\""},
			{Name: "crash-local", Store: "file://" + filepath.Join(dir, "store-local"), Extra: "squash = \"none\"\ndurability = \"local\""},
		})
	})
	t.Run("file-local encrypted", func(t *testing.T) {
		// Local durability with the journal sealed: every restart ships
		// the sealed tail, opened with the export's key.
		dir := t.TempDir()
		key := filepath.Join(dir, "export.key")
		if err := os.WriteFile(key, []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		enc := fmt.Sprintf("squash = \"none\"\ndurability = \"local\"\nencryption = true\nkey_file = %q\n", key)
		runCrashLoop(t, dir, localRounds, []exportSpec{
			{Name: "crash-local-commit", Store: "file://" + filepath.Join(dir, "store-local-commit"), Extra: enc + "sync = \"commit\""},
			{Name: "crash-local", Store: "file://" + filepath.Join(dir, "store-local"), Extra: enc},
		})
	})
	t.Run("s3-local", func(t *testing.T) {
		env := testenv.S3(t)
		runCrashLoop(t, t.TempDir(), localRounds, []exportSpec{
			{Name: "crash-local-commit", Store: "s3://" + env.Bucket + "/local-commit", Extra: "durability = \"local\"\nsync = \"commit\"\n" + s3ExportExtra(env)},
			{Name: "crash-local", Store: "s3://" + env.Bucket + "/local", Extra: "durability = \"local\"\n" + s3ExportExtra(env)},
		})
	})
}

// crashStrict reports whether an export's extra TOML makes its metadata
// replies durable: sync = "strict", or durability = "local" without
// sync = "commit" (local durability makes strict the default).
func crashStrict(extra string) bool {
	return strings.Contains(extra, `sync = "strict"`) ||
		(strings.Contains(extra, `durability = "local"`) && !strings.Contains(extra, `sync = "commit"`))
}

// runCrashLoop runs rounds of workload, SIGKILL, fsck, restart and
// verification on a daemon serving exports (the second one is strict).
func runCrashLoop(t *testing.T, dir string, rounds int, exports []exportSpec) {
	seed := suiteSeed(t)
	master := rand.New(rand.NewPCG(seed, 0x7a65726f))
	var exportNames []string
	for _, e := range exports {
		exportNames = append(exportNames, e.Name)
	}
	d := newSuiteDaemon(t, dir, suiteConfig{
		// A small memtable so rounds also cross memtable flushes into SSTs.
		Global:  "[lsm]\nmemtable_mb = 2\n",
		Exports: exports,
	})
	d.Start()

	// Set up: two workers per export, each with its own directory and files,
	// all made durable before the loop.
	ctx := stepContext(t)
	var workers []*crashWorker
	for ei, export := range exportNames {
		m := suiteMustDial(t, d.addr, "/"+export)
		for k := 0; k < 2; k++ {
			w := &crashWorker{
				id: len(workers), export: export, strict: crashStrict(exports[ei].Extra),
				rng:     rand.New(rand.NewPCG(seed, uint64(len(workers)+1))),
				dirName: fmt.Sprintf("%s:/w%d", export, len(workers)),
				cur:     crashState{names: map[string]int{}},
			}
			res, err := m.c.Mkdir(ctx, m.root, fmt.Sprintf("w%d", w.id), nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
			if err != nil {
				t.Fatalf("MKDIR for worker %d: %v", w.id, err)
			}
			w.dir = res.FH
			for f := 0; f < crashFilesPerWorker; f++ {
				name := w.freshName()
				fh, err := suiteCreate(ctx, m.c, w.dir, name)
				if err != nil {
					t.Fatalf("worker %d: %v", w.id, err)
				}
				attr, err := m.c.Getattr(ctx, fh)
				if err != nil {
					t.Fatalf("worker %d: GETATTR %s: %v", w.id, name, err)
				}
				w.fhs = append(w.fhs, fh)
				w.fileIDs = append(w.fileIDs, attr.FileID)
				w.cur.names[name] = f
				w.cur.contents = append(w.cur.contents, nil)
			}
			if _, err := m.c.Commit(ctx, w.fhs[0], 0, 0); err != nil {
				t.Fatalf("worker %d: COMMIT after setup: %v", w.id, err)
			}
			w.history = []crashState{w.cur}
			workers = append(workers, w)
		}
	}

	var totalBytes int64
	var totalFiles, advanced, recoveryKills int
	for round := 1; round <= rounds; round++ {
		// Run the workload and kill the daemon at a random moment.
		// Each round gets its own deadline: 100 rounds outlast any one.
		rctx, cancelRound := context.WithTimeout(context.Background(), 2*time.Minute)
		runFor := time.Duration(150+master.IntN(1100)) * time.Millisecond
		var killed atomic.Bool
		stop := make(chan struct{})
		errs := make(chan error, len(workers))
		var wg sync.WaitGroup
		var clients []*nfsclient.Client
		for _, w := range workers {
			c, err := nfsclient.Dial(rctx, d.addr)
			if err != nil {
				t.Fatalf("round %d: dialing: %v", round, err)
			}
			clients = append(clients, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.run(rctx, c, stop, &killed); err != nil {
					errs <- err
				}
			}()
		}
		time.Sleep(runFor)
		killed.Store(true)
		d.Kill()
		close(stop)
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		if t.Failed() {
			t.FailNow()
		}

		// After the crash: fsck clean on each export, restart, and every
		// worker's state is one allowed by what was acknowledged.
		suiteFsck(t, d, exportNames...)
		d.Start()
		// Sometimes crash again while the daemon has just opened (WAL
		// replay, new writer epoch, memtable flushes of the recovery).
		if master.IntN(4) == 0 {
			time.Sleep(time.Duration(master.IntN(60)) * time.Millisecond)
			d.Kill()
			recoveryKills++
			suiteFsck(t, d, exportNames...)
			d.Start()
		}
		c, err := nfsclient.Dial(rctx, d.addr)
		if err != nil {
			t.Fatalf("round %d: dialing after restart: %v", round, err)
		}
		// Recovery never sets a journal aside nor misses one here: there is
		// one writer, and its journal stays on this disk.
		if logs := d.Logs(); strings.Contains(logs, "SET ASIDE") || strings.Contains(logs, "JOURNAL MISSING") {
			c.Close()
			t.Fatalf("round %d: the restart reported a journal problem:\n%s", round, logs)
		}
		var roundBytes int64
		var roundOps int
		for _, w := range workers {
			got, n, err := w.observe(rctx, c)
			if err != nil {
				c.Close()
				t.Fatalf("round %d, worker %d: after restart: %v\n(request in flight at the kill: %s)", round, w.id, err, w.inFlight)
			}
			match := -1
			for i := len(w.history) - 1; i >= 0; i-- {
				if got.equal(w.history[i]) {
					match = i
					break
				}
			}
			if match < 0 {
				c.Close()
				t.Fatalf("round %d, worker %d (%s): the state after restart is none of the %d states allowed since the last durable acknowledgement\n got:     %v\n durable: %v\n latest:  %v\n(request in flight at the kill: %s)",
					round, w.id, w.export, len(w.history), got, w.history[0], w.history[len(w.history)-1], w.inFlight)
			}
			if match > 0 {
				advanced++
			}
			w.cur = w.history[match]
			w.history = []crashState{w.cur}
			roundBytes += n
			totalFiles += len(w.fhs)
			roundOps += w.ops
		}
		c.Close()
		cancelRound()
		totalBytes += roundBytes
		t.Logf("round %d/%d: ran %v, killed, fsck clean on %d exports, restarted; verified %d files (%d bytes) through pre-crash handles; %d requests acknowledged so far",
			round, rounds, runFor, len(exportNames), len(workers)*crashFilesPerWorker, roundBytes, roundOps)
	}
	suiteFsck(t, d, exportNames...)
	d.Stop()
	suiteFsck(t, d, exportNames...)

	var sum crashWorker
	for _, w := range workers {
		sum.ops += w.ops
		sum.commits += w.commits
		sum.fileSyncs += w.fileSyncs
		sum.writes += w.writes
		sum.truncates += w.truncates
		sum.renames += w.renames
		sum.links += w.links
		sum.removes += w.removes
		sum.reads += w.reads
	}
	t.Logf("PROVED over %d SIGKILL rounds plus %d kills right after a restart (seed %d): %d acknowledged requests (%d writes of which %d FILE_SYNC, %d truncates, %d renames, %d links, %d removes, %d COMMITs, %d live read checks) on 2 exports (%s and %s) on %s; after every kill fsck was clean, every worker's directory and files matched an allowed state byte for byte (%d file checks, %d bytes verified; %d times the state included acknowledged-but-not-yet-durable requests), and every pre-crash handle still resolved",
		rounds, recoveryKills, seed, sum.ops, sum.writes, sum.fileSyncs, sum.truncates, sum.renames, sum.links, sum.removes, sum.commits, sum.reads, exports[0].Name, exports[1].Name, exports[0].Store, totalFiles, totalBytes, advanced)
}
