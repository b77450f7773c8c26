package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// s3ExportExtra returns the TOML lines of an export on the test S3 server.
func s3ExportExtra(env testenv.S3Env) string {
	return "squash = \"none\"\n" + s3ExportTable(env)
}

// s3ExportTable is the [exports.s3] table of an export on env: the last
// lines of an exportSpec's Extra (keys after it belong to the table).
func s3ExportTable(env testenv.S3Env) string {
	return fmt.Sprintf("[exports.s3]\nendpoint = %q\naccess_key_id = %q\nsecret_access_key = %q\nregion = %q\nallow_http = true\n",
		env.Endpoint, env.AccessKeyID, env.SecretAccessKey, env.Region)
}

// TestTortureTwoServersFence opens one export from two daemons: the second
// fences the first, which must stop acknowledging writes for it, say so in
// its log, and leave no trace of what it was asked to write afterwards.
func TestTortureTwoServersFence(t *testing.T) {
	rounds := 4
	if suiteTortureOn() {
		rounds = 40
	}
	t.Run("file", func(t *testing.T) {
		store := "file://" + filepath.Join(t.TempDir(), "shared-store")
		testFence(t, exportSpec{Name: "shared", Store: store, Extra: `squash = "none"`})
	})
	t.Run("file/ping-pong", func(t *testing.T) {
		store := "file://" + filepath.Join(t.TempDir(), "shared-store")
		testFencePingPong(t, exportSpec{Name: "shared", Store: store, Extra: `squash = "none"`}, rounds)
	})
	t.Run("s3", func(t *testing.T) {
		env := testenv.S3(t)
		testFence(t, exportSpec{Name: "shared", Store: "s3://" + env.Bucket + "/fence", Extra: s3ExportExtra(env)})
	})
	t.Run("s3/ping-pong", func(t *testing.T) {
		env := testenv.S3(t)
		testFencePingPong(t, exportSpec{Name: "shared", Store: "s3://" + env.Bucket + "/ping-pong", Extra: s3ExportExtra(env)}, rounds)
	})
}

// testFencePingPong alternates the writer between two daemons: each round
// the fenced one is restarted (fencing the other), sees every record
// committed so far, commits its own; the other's next COMMIT must fail.
func testFencePingPong(t *testing.T, spec exportSpec, rounds int) {
	ctx := stepContext(t)
	base := t.TempDir()
	ds := []*daemon{
		newSuiteDaemon(t, filepath.Join(base, "x"), suiteConfig{Exports: []exportSpec{spec}}),
		newSuiteDaemon(t, filepath.Join(base, "y"), suiteConfig{Exports: []exportSpec{spec}}),
	}
	ds[0].Start()
	m := suiteMustDial(t, ds[0].addr, "/shared")
	fh, err := suiteCreate(ctx, m.c, m.root, "pp.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.c.Commit(ctx, fh, 0, 0); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	mounts := []*suiteMount{m, nil}
	var want []byte
	refused := 0
	for i := 0; i < rounds; i++ {
		newer, older := (i+1)%2, i%2
		ds[newer].Kill() // a fenced daemon only serves again after a restart
		ds[newer].Start()
		mounts[newer] = suiteMustDial(t, ds[newer].addr, "/shared")
		nc := mounts[newer].c
		got, err := suiteReadAll(ctx, nc, fh)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round %d: daemon %d after taking over reads %d bytes sha256 %s (err %v), want %d bytes sha256 %s",
				i, newer, len(got), suiteSum(got), err, len(want), suiteSum(want))
		}
		rec := streamRecord(i)
		if _, err := nc.Write(ctx, fh, uint64(len(want)), rec, nfsclient.Unstable); err != nil {
			t.Fatalf("round %d: WRITE through the new writer: %v", i, err)
		}
		if _, err := nc.Commit(ctx, fh, 0, 0); err != nil {
			t.Fatalf("round %d: COMMIT through the new writer: %v", i, err)
		}
		want = append(want, rec...)
		// The older daemon must refuse: its COMMIT after a write fails.
		stale := bytes.Repeat([]byte("STALE-WRITER!!!!"), 256)
		oc := mounts[older].c
		_, _ = oc.Write(ctx, fh, uint64(len(want)), stale, nfsclient.Unstable)
		if _, err := oc.Commit(ctx, fh, 0, 0); err == nil {
			t.Fatalf("round %d: the fenced daemon %d acknowledged a COMMIT", i, older)
		} else if st := suiteStatus(err); st != uint32(syscall.EROFS) && st != uint32(syscall.EIO) {
			t.Errorf("round %d: fenced daemon %d answered COMMIT with %v; want NFS3ERR_ROFS or NFS3ERR_IO", i, older, err)
		}
		if !logSays(ds[older], "fenced") {
			t.Errorf("round %d: daemon %d's log does not say it was fenced:\n%s", i, older, ds[older].Logs())
		}
		refused++
	}
	ds[0].Kill()
	ds[1].Kill()
	suiteFsck(t, ds[0], "shared")
	ds[0].Start()
	m = suiteMustDial(t, ds[0].addr, "/shared")
	got, err := suiteReadAll(ctx, m.c, fh)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after %d take-overs: %d bytes sha256 %s (err %v), want %d bytes sha256 %s (stale writes present: %v)",
			rounds, len(got), suiteSum(got), err, len(want), suiteSum(want), bytes.Contains(got, []byte("STALE-WRITER")))
	}
	ds[0].Stop()
	t.Logf("PROVED (%s): %d take-overs between two daemons; each new writer saw every committed record, the fenced one refused %d COMMITs and logged it; fsck clean; %d bytes exact, no stale write",
		spec.Store, rounds, refused, len(want))
}

func testFence(t *testing.T, spec exportSpec) {
	seed := suiteSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := stepContext(t)
	base := t.TempDir()
	a := newSuiteDaemon(t, filepath.Join(base, "a"), suiteConfig{Exports: []exportSpec{spec}})
	b := newSuiteDaemon(t, filepath.Join(base, "b"), suiteConfig{Exports: []exportSpec{spec}})

	// 1. A serves the export; a file written and committed through A.
	a.Start()
	ma := suiteMustDial(t, a.addr, "/shared")
	fh, err := suiteCreate(ctx, ma.c, ma.root, "fence.bin")
	if err != nil {
		t.Fatal(err)
	}
	want := suiteRandomBytes(rng, 300<<10+123) // several 64 KiB chunks, last one partial
	if err := suiteWriteAll(ctx, ma.c, fh, 0, want, nfsclient.Unstable); err != nil {
		t.Fatalf("writing through A: %v", err)
	}
	if _, err := ma.c.Mkdir(ctx, ma.root, "made-by-a", nfsclient.Sattr{Mode: nfsclient.U32(0o755)}); err != nil {
		t.Fatalf("MKDIR through A: %v", err)
	}
	if _, err := ma.c.Commit(ctx, fh, 0, 0); err != nil {
		t.Fatalf("COMMIT through A: %v", err)
	}

	// A keeps writing and committing records on its own connection while B
	// opens: every record A acknowledged must survive, whatever the timing.
	stream, err := suiteCreate(ctx, ma.c, ma.root, "a-stream.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ma.c.Commit(ctx, stream, 0, 0); err != nil {
		t.Fatalf("COMMIT through A: %v", err)
	}
	streamer := suiteMustDial(t, a.addr, "/shared")
	acked := make(chan int, 1<<16)
	streamDone := make(chan error, 1)
	go func() {
		for i := 0; i < 1<<16; i++ {
			if _, err := streamer.c.Write(ctx, stream, uint64(i)*4096, streamRecord(i), nfsclient.Unstable); err != nil {
				streamDone <- err
				return
			}
			if _, err := streamer.c.Commit(ctx, stream, 0, 0); err != nil {
				streamDone <- err
				return
			}
			acked <- i
		}
		streamDone <- fmt.Errorf("A acknowledged %d COMMITs while another server opened its export", 1<<16)
	}()
	for i := 0; i < 5; i++ {
		select {
		case <-acked:
		case err := <-streamDone:
			t.Fatalf("A's record stream failed before B started: %v", err)
		}
	}

	// 2. B opens the same store: it sees A's data, and its own writes commit.
	b.Start()
	mb := suiteMustDial(t, b.addr, "/shared")
	fhB, _, err := mb.c.Lookup(ctx, mb.root, "fence.bin")
	if err != nil {
		t.Fatalf("B does not see A's committed file: %v", err)
	}
	if !bytes.Equal(fhB, fh) {
		t.Errorf("the same file has different handles on A and B: %x vs %x", fh, fhB)
	}
	if got, err := suiteReadAll(ctx, mb.c, fhB); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("B reads A's committed file: %d bytes sha256 %s, err %v; want %d bytes sha256 %s",
			len(got), suiteSum(got), err, len(want), suiteSum(want))
	}
	bData := suiteRandomBytes(rng, 70<<10)
	bOff := 100 << 10
	if err := suiteWriteAll(ctx, mb.c, fhB, uint64(bOff), bData, nfsclient.Unstable); err != nil {
		t.Fatalf("writing through B: %v", err)
	}
	if _, err := mb.c.Mkdir(ctx, mb.root, "made-by-b", nfsclient.Sattr{Mode: nfsclient.U32(0o755)}); err != nil {
		t.Fatalf("MKDIR through B: %v", err)
	}
	if _, err := mb.c.Commit(ctx, fhB, 0, 0); err != nil {
		t.Fatalf("COMMIT through B: %v", err)
	}
	copy(want[bOff:], bData)

	// 3. A is fenced: its COMMIT after an UNSTABLE write fails, as does a
	// FILE_SYNC write and a metadata change; none of it may ever appear.
	aData := bytes.Repeat([]byte("written-to-A-after-fencing!"), 2000)
	aOff := 8 << 10
	// The UNSTABLE write may be accepted in A's memory (it is not
	// acknowledged durable); the COMMIT that follows must fail.
	_, unstableErr := ma.c.Write(ctx, fh, uint64(aOff), aData, nfsclient.Unstable)
	_, commitErr := ma.c.Commit(ctx, fh, 0, 0)
	if commitErr == nil {
		t.Fatalf("A acknowledged a COMMIT after B opened the export (UNSTABLE write err: %v)", unstableErr)
	}
	_, syncErr := ma.c.Write(ctx, fh, uint64(aOff), aData, nfsclient.FileSync)
	if syncErr == nil {
		t.Fatalf("A acknowledged a FILE_SYNC write after it was fenced")
	}
	_, mkdirErr := ma.c.Mkdir(ctx, ma.root, "made-by-a-after-fencing", nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
	if mkdirErr == nil {
		t.Errorf("A accepted MKDIR after it was fenced")
	}
	for what, err := range map[string]error{"COMMIT": commitErr, "FILE_SYNC WRITE": syncErr, "MKDIR": mkdirErr} {
		if st := suiteStatus(err); err != nil && st != uint32(syscall.EROFS) && st != uint32(syscall.EIO) {
			t.Errorf("fenced A answered %s with %v; want NFS3ERR_ROFS (30) or NFS3ERR_IO (5)", what, err)
		}
	}
	if !logSays(a, "fenced") {
		t.Errorf("A's log does not say it was fenced:\n%s", a.Logs())
	}

	streamErr := <-streamDone
	if suiteStatus(streamErr) != uint32(syscall.EROFS) && suiteStatus(streamErr) != uint32(syscall.EIO) {
		t.Errorf("A's record stream ended with %v; want NFS3ERR_ROFS or NFS3ERR_IO", streamErr)
	}
	close(acked)
	lastAcked := -1
	for i := range acked {
		lastAcked = i
	}

	// B keeps working after A's attempts.
	b2 := suiteRandomBytes(rng, 5000)
	b2Off := len(want) - 1000
	if _, err := mb.c.Write(ctx, fhB, uint64(b2Off), b2, nfsclient.FileSync); err != nil {
		t.Fatalf("FILE_SYNC write through B after A's attempts: %v", err)
	}
	want = append(want[:b2Off], b2...)

	// 4. Stop both; fsck clean; B's data intact and A's late data absent.
	aExit := a.signal(syscall.SIGTERM)
	t.Logf("fenced daemon A exited on SIGTERM with: %v", aExit)
	b.Stop()
	suiteFsck(t, b, "shared")
	b.Start()
	mc := suiteMustDial(t, b.addr, "/shared")
	got, err := suiteReadAll(ctx, mc.c, fh)
	if err != nil {
		t.Fatalf("reading fence.bin after both stopped, with A's handle: %v", err)
	}
	if !bytes.Equal(got, want) {
		if bytes.Contains(got, aData[:200]) {
			t.Fatalf("data written to A after it was fenced is in the file")
		}
		t.Fatalf("fence.bin after restart: %d bytes sha256 %s, want %d bytes sha256 %s", len(got), suiteSum(got), len(want), suiteSum(want))
	}
	streamGot, err := suiteReadAll(ctx, mc.c, stream)
	if err != nil {
		t.Fatalf("reading a-stream.bin: %v", err)
	}
	for i := 0; i <= lastAcked; i++ {
		rec := streamRecord(i)
		if end := (i + 1) * 4096; end > len(streamGot) || !bytes.Equal(streamGot[i*4096:end], rec) {
			t.Fatalf("record %d, acknowledged by A's COMMIT, is lost (a-stream.bin has %d bytes; A acknowledged records 0..%d)", i, len(streamGot), lastAcked)
		}
	}
	checkNames(ctx, t, mc, map[string]bool{"fence.bin": true, "made-by-a": true, "made-by-b": true, "made-by-a-after-fencing": false, "a-stream.bin": true})
	b.Stop()
	suiteFsck(t, b, "shared")
	t.Logf("PROVED (%s): B's open fenced A; A's concurrent record stream stopped with %v after %d acknowledged COMMITs, all of which survived; A refused COMMIT (%v), FILE_SYNC (%v) and MKDIR (%v) and logged it; fsck clean; %d bytes verified with B's writes and none of A's late ones",
		spec.Store, streamErr, lastAcked+1, commitErr, syncErr, mkdirErr, len(want))
}

// logSays reports whether d's log contains word (any case), waiting a
// little: the daemon may refuse a request a moment before its log line about
// why is written.
func logSays(d *daemon, word string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(strings.ToLower(d.Logs()), word) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// streamRecord is record i of A's stream: 4 KiB naming its index.
func streamRecord(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("record %08d;", i)), 4096/16)
}

// checkNames checks which names exist in the root of m.
func checkNames(ctx context.Context, t *testing.T, m *suiteMount, want map[string]bool) {
	t.Helper()
	for name, exists := range want {
		_, _, err := m.c.Lookup(ctx, m.root, name)
		switch {
		case exists && err != nil:
			t.Errorf("%s is missing: %v", name, err)
		case !exists && err == nil:
			t.Errorf("%s exists but must not", name)
		case !exists && suiteStatus(err) != uint32(syscall.ENOENT):
			t.Errorf("LOOKUP %s: %v, want NFS3ERR_NOENT", name, err)
		}
	}
}
