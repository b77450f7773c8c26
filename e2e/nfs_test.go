package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

func init() {
	// The client resends a call after this long; a slow CI machine must not see duplicates.
	rpc.DefaultReadTimeout = time.Minute
}

// mountGo mounts path on the daemon with the Go NFS client, as root.
func mountGo(t testing.TB, addr, path string) (*nfsc.Target, *rpc.Client) {
	t.Helper()
	c, err := testenv.DialGoNFS(addr)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	m := &nfsc.Mount{Client: c}
	target, err := m.Mount(path, rpc.NewAuthUnix("e2e", 0, 0).Auth())
	if err != nil {
		c.Close()
		t.Fatalf("mounting %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return target, c
}

func writeFile(t testing.TB, target *nfsc.Target, name string, data []byte) {
	t.Helper()
	f, err := target.OpenFile(name, 0o644)
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatalf("writing %s: %v", name, err)
	}
	// Close sends COMMIT: after it returns the data must survive a crash.
	if err := f.Close(); err != nil {
		t.Fatalf("closing %s: %v", name, err)
	}
}

func readFile(t testing.TB, target *nfsc.Target, name string) []byte {
	t.Helper()
	f, err := target.Open(name)
	if err != nil {
		t.Fatalf("opening %s: %v", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return data
}

// TestTwoExportsSurviveKill serves two exports from one daemon, writes to both
// through the Go NFS client, kills the daemon with SIGKILL, restarts it, and
// checks that everything committed is there, that the exports never see each
// other's files, and that handles from before the crash still work.
func TestTwoExportsSurviveKill(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
		{Name: "team-b", Store: "file://" + filepath.Join(dir, "team-b"), Extra: "squash = \"none\"\nsync = \"strict\""},
	})
	d.Start()

	a, _ := mountGo(t, d.addr, "/team-a")
	b, _ := mountGo(t, d.addr, "/team-b")

	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+12345) // spans many 64 KiB chunks and several WRITE calls
	for i := range big {
		big[i] = byte(rng.IntN(256))
	}
	if _, err := a.Mkdir("src", 0o755); err != nil {
		t.Fatalf("mkdir src: %v", err)
	}
	writeFile(t, a, "src/big.bin", big)
	writeFile(t, a, "src/hello.txt", []byte("hello from team-a\n"))
	writeFile(t, b, "only-b.txt", []byte("team-b's file\n"))
	if err := a.Rename("src/hello.txt", "src/hello2.txt"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	// team-a syncs metadata on COMMIT: a COMMIT after the rename covers it.
	writeFile(t, a, "src/commit-marker", []byte("x"))

	// Isolation: neither export sees the other's names.
	if _, _, err := b.Lookup("src"); err == nil {
		t.Fatalf("team-b sees team-a's directory src")
	}
	if _, _, err := a.Lookup("only-b.txt"); err == nil {
		t.Fatalf("team-a sees team-b's file")
	}
	_, bigHandle, err := a.Lookup("src/big.bin")
	if err != nil {
		t.Fatalf("lookup big.bin: %v", err)
	}
	// A metadata change on the strict export is durable at its reply.
	if _, err := b.Mkdir("strict-dir", 0o700); err != nil {
		t.Fatalf("mkdir on team-b: %v", err)
	}

	d.Kill()
	for _, name := range []string{"team-a", "team-b"} {
		if out, err := runBinary(t, "fsck", "-c", d.config, "--export", name); err != nil {
			t.Fatalf("fsck of %s after SIGKILL: %v\n%s", name, err, out)
		}
	}
	d.Start()

	a2, c2 := mountGo(t, d.addr, "/team-a")
	b2, _ := mountGo(t, d.addr, "/team-b")
	if got := readFile(t, a2, "src/big.bin"); !bytes.Equal(got, big) {
		t.Fatalf("big.bin after restart: %d bytes, sha256 %x; want %d bytes, sha256 %x",
			len(got), sha256.Sum256(got), len(big), sha256.Sum256(big))
	}
	if got := string(readFile(t, a2, "src/hello2.txt")); got != "hello from team-a\n" {
		t.Fatalf("hello2.txt after restart = %q", got)
	}
	if _, _, err := a2.Lookup("src/hello.txt"); err == nil {
		t.Fatalf("the rename was lost: src/hello.txt exists again")
	}
	if got := string(readFile(t, b2, "only-b.txt")); got != "team-b's file\n" {
		t.Fatalf("only-b.txt after restart = %q", got)
	}
	if _, _, err := b2.Lookup("strict-dir"); err != nil {
		t.Fatalf("strict-dir lost across the crash: %v", err)
	}
	// The handle from before the crash resolves on the new server.
	attr, err := a2.GetAttr(bigHandle)
	if err != nil {
		t.Fatalf("GETATTR with a handle from before the restart: %v", err)
	}
	if attr.Filesize != uint64(len(big)) {
		t.Fatalf("size via old handle = %d, want %d", attr.Filesize, len(big))
	}
	_ = c2
	d.Stop()
	t.Logf("verified %d bytes in 4 files and 2 directories across SIGKILL and restart on 2 exports", len(big)+18+14)
}

// TestCheckConfig runs `zerofsd check-config` on a valid and a broken file.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte(fmt.Sprintf("[cache]\ndir=%q\nsize_gb=1\n[[exports]]\nname=\"a\"\npath=\"/a\"\nstore=\"memory://\"\n", dir)), 0o644)
	os.WriteFile(bad, []byte("[cache]\ndir=\"/tmp/x\"\nsize_gb=-1\n[[exports]]\nname=\"a\"\npath=\"/a\"\nstore=\"ftp://x\"\nsquash=\"some\"\nallowed_clients=[\"10.0.0.0/33\"]\nbogus=1\n"), 0o644)

	out, err := runBinary(t, "check-config", "-c", good)
	if err != nil {
		t.Fatalf("check-config on a valid file failed: %v\n%s", err, out)
	}
	out, err = runBinary(t, "check-config", "-c", bad)
	if err == nil {
		t.Fatalf("check-config accepted a broken file:\n%s", out)
	}
	for _, key := range []string{"cache.size_gb", "exports[0].store", "exports[0].squash", "exports[0].allowed_clients", "exports[0].bogus"} {
		if !bytes.Contains([]byte(out), []byte(key)) {
			t.Errorf("check-config output does not name %s:\n%s", key, out)
		}
	}
	if !bytes.Contains([]byte(out), []byte(bad)) {
		t.Errorf("check-config output does not name the file %s:\n%s", bad, out)
	}
}

// goMount is a Go-client mount made without a testing.T (for polling loops).
type goMount struct {
	target *nfsc.Target
	client *rpc.Client
}

func mountGoQuiet(addr, path string) (*goMount, error) {
	c, err := testenv.DialGoNFS(addr)
	if err != nil {
		return nil, err
	}
	m := &nfsc.Mount{Client: c}
	target, err := m.Mount(path, rpc.NewAuthUnix("e2e", 0, 0).Auth())
	if err != nil {
		c.Close()
		return nil, err
	}
	return &goMount{target: target, client: c}, nil
}
