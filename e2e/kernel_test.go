package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// guestVisibleDir returns a fresh directory the VM guest can read: the guest
// sees this machine's files except /tmp, /run, /root and /var/tmp (it has its
// own), so the inputs cannot live under those (nor can a checkout there).
func guestVisibleDir(t *testing.T) string {
	t.Helper()
	var candidates []string
	if d := os.Getenv("ZEROFS_E2E_GUEST_DIR"); d != "" {
		candidates = append(candidates, d)
	}
	if wd, err := filepath.Abs(".kernel-input"); err == nil {
		candidates = append(candidates, wd)
	}
	candidates = append(candidates, "/var/cache/zerofs-e2e", "/var/lib/zerofs-e2e")
	for _, base := range candidates {
		if hiddenFromGuest(base) {
			continue
		}
		if err := os.MkdirAll(base, 0o755); err != nil {
			continue
		}
		dir, err := os.MkdirTemp(base, "run-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	t.Fatalf("no directory the VM guest can see is writable (tried %v)", candidates)
	return ""
}

// hiddenFromGuest reports whether path lies under a directory the nfsvm guest
// replaces with its own.
func hiddenFromGuest(path string) bool { return !nfsvm.VisibleInGuest(path) }

// runGuest runs script in the nfsvm guest with opts (whose Output it sets),
// for at most limit and until 30 s before the test's deadline, logs how the
// run went and returns what the script printed.
func runGuest(t *testing.T, vm *nfsvm.VM, limit time.Duration, script string, opts nfsvm.RunOptions) (string, error) {
	t.Helper()
	if deadline, ok := t.Deadline(); ok {
		limit = min(limit, time.Until(deadline)-30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out testenv.SyncBuffer
	opts.Output = &out
	res, err := vm.Run(ctx, script, opts)
	t.Logf("nfsvm: %s", res)
	return out.String(), err
}

// port is the port of a daemon's address, for nfsvm.RunOptions.
func port(t *testing.T, d *daemon) int {
	t.Helper()
	p, err := strconv.Atoi(d.nfsPort())
	if err != nil {
		t.Fatalf("port of %s: %v", d.addr, err)
	}
	return p
}

// makeSourceTarball writes a tar of Go's own src/go tree (a real source tree
// of several hundred files) and the sha256 sums of its files.
func makeSourceTarball(t *testing.T, dir string) (tarPath, sumsPath string, files int) {
	t.Helper()
	goroot := strings.TrimSpace(mustOutput(t, "go", "env", "GOROOT"))
	src := filepath.Join(goroot, "src", "go")
	var tarBuf bytes.Buffer
	var sums strings.Builder
	tw := tar.NewWriter(&tarBuf)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(src), p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(data)
			fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), rel)
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("building the source tarball: %v", err)
	}
	tw.Close()
	tarPath, sumsPath = filepath.Join(dir, "src.tar"), filepath.Join(dir, "src.sha256")
	os.WriteFile(tarPath, tarBuf.Bytes(), 0o644)
	os.WriteFile(sumsPath, []byte(sums.String()), 0o644)
	return tarPath, sumsPath, files
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// copyTree copies a directory (the test module) to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// kernelScript is run by the guest's root shell with the export /team-a
// mounted at $NFS. Phase 1 works on both exports and asks the host for a
// restart; phase 2 checks everything after the restart, on the same mounts.
// Every read-back that checks what the server holds comes after fresh: the
// client may answer from pages it wrote or read before, as long as the
// file's attributes do not change, also across the restart, so without it a
// server that lost or mangled the data could pass.
const kernelScript = `set -eu
IN=%[1]s
step() { echo "== $*"; }
fresh() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step "untar a source tree of %[2]d files on /team-a"
mkdir $NFS/work
tar -xf $IN/src.tar -C $NFS/work
fresh
(cd $NFS/work && sha256sum -c --quiet $IN/src.sha256)
step "rename, hard link, symlink, chmod, mknod"
cd $NFS/work
mv go/ast go/ast-renamed
mv go/ast-renamed/ast.go go/ast-renamed/ast-moved.go
ln go/ast-renamed/ast-moved.go hardlink.go
test "$(stat -c %%h hardlink.go)" = 2
ln -s go/ast-renamed/ast-moved.go symlink.go
test "$(readlink symlink.go)" = go/ast-renamed/ast-moved.go
cmp symlink.go hardlink.go
chmod 0751 hardlink.go
test "$(stat -c %%a go/ast-renamed/ast-moved.go)" = 751
mknod fifo p
test -p fifo
mknod chardev c 1 7
test "$(stat -c %%t:%%T chardev)" = 1:7
mkdir -p deep/a/b/c && echo deep > deep/a/b/c/file && rm -r deep/a/b
test ! -e deep/a/b
cp $IN/random.bin random.bin
step "the second export is separate"
mkdir -p /tmp/b
mount -t nfs -o vers=3,nolock,tcp,port=$NFS_PORT,mountport=$NFS_PORT,addr=$NFS_HOST,noac $NFS_HOST:/team-b /tmp/b
echo only-b > /tmp/b/only-b
test ! -e $NFS/only-b
test ! -e /tmp/b/work
step "go build of a small module on the mount"
cp -r %[3]s $NFS/hellomod
(cd $NFS/hellomod && GOFLAGS=-mod=mod GOPROXY=off go build -o $NFS/hellomod/hello .)
fresh
$NFS/hellomod/hello > /tmp/hello.out
test "$(cat /tmp/hello.out)" = "hello, nfs"
step "ask for a restart of zerofsd, wait for it"
touch /tmp/b/restart-please
i=0
while [ ! -e /tmp/b/restarted ]; do i=$((i+1)); [ $i -lt 600 ] || { echo "no restart"; exit 1; }; sleep 0.5; ls /tmp/b >/dev/null; done
step "after the restart: everything is there, on the same mounts, as the server holds it"
fresh
cd $NFS/work
mv go/ast-renamed go/ast && mv go/ast/ast-moved.go go/ast/ast.go
sha256sum -c --quiet $IN/src.sha256
sha256sum -c --quiet $IN/random.sha256
test -p fifo
test "$(stat -c %%h hardlink.go)" = 2
test "$(cat /tmp/b/only-b)" = only-b
test "$($NFS/hellomod/hello)" = "hello, nfs"
echo "after restart: write again" > after.txt
fresh
test "$(cat after.txt)" = "after restart: write again"
step "all checks passed"
`

// TestKernelClient drives the Linux kernel NFS client (in a VM through
// internal/nfsvm) against the real daemon: two exports, a source tree
// untarred and verified, rename/link/symlink/chmod/mknod, a go build on the
// mount, and a SIGKILL + restart of zerofsd while mounted. The guest checks
// its reads after dropping its caches, and the host checks the tree again
// through the Go client, which caches nothing.
func TestKernelClient(t *testing.T) {
	vm := nfsvm.ForTest(t)
	in := guestVisibleDir(t)
	_, sums, files := makeSourceTarball(t, in)
	mod := filepath.Join(in, "hellomod")
	copyTree(t, "testdata/hellomod", mod)
	random := make([]byte, 40*64<<10)
	rand.Read(random)
	if err := os.WriteFile(filepath.Join(in, "random.bin"), random, 0o644); err != nil {
		t.Fatal(err)
	}
	randomSums := fmt.Sprintf("%x  random.bin\n", sha256.Sum256(random))
	if err := os.WriteFile(filepath.Join(in, "random.sha256"), []byte(randomSums), 0o644); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: "squash = \"none\""},
		{Name: "team-b", Store: "file://" + filepath.Join(dir, "team-b"), Extra: "squash = \"none\""},
	})
	d.Start()

	vmTimeout := 20 * time.Minute
	if deadline, ok := t.Deadline(); ok {
		vmTimeout = time.Until(deadline) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), vmTimeout)
	defer cancel()
	var out testenv.SyncBuffer
	var res nfsvm.Result // set before done is sent
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = vm.Run(ctx, fmt.Sprintf(kernelScript, in, files, mod), nfsvm.RunOptions{Port: port(t, d), Export: "/team-a", Output: &out})
		done <- err
	}()

	// Watch team-b for the guest's restart request, then kill and restart zerofsd.
	watch, err := mountGoQuiet(d.addr, "/team-b")
	if err != nil {
		t.Fatalf("mounting team-b to watch for the guest: %v", err)
	}
	for {
		select {
		case err := <-done:
			t.Fatalf("the guest script ended before asking for a restart (%v; nfsvm %s):\n%s\nzerofsd log:\n%s", err, res, out.String(), tail(d.Logs(), 60))
		case <-time.After(time.Second):
		}
		if _, _, err := watch.target.Lookup("restart-please"); err != nil {
			continue
		}
		break
	}
	watch.client.Close()
	d.Kill()
	d.Start()
	b2, err := mountGoQuiet(d.addr, "/team-b")
	if err != nil {
		t.Fatalf("mounting team-b after the restart: %v", err)
	}
	writeFile(t, b2.target, "restarted", []byte("yes"))
	b2.client.Close()
	if err := <-done; err != nil {
		t.Fatalf("the guest script failed (%v; nfsvm %s):\n%s\nzerofsd log:\n%s", err, res, out.String(), tail(d.Logs(), 80))
	}
	t.Logf("nfsvm: %s", res)
	t.Logf("kernel client output:\n%s", out.String())
	if !strings.Contains(out.String(), "== all checks passed") {
		t.Fatalf("the guest script did not reach its end:\n%s", out.String())
	}
	a, _ := mountGo(t, d.addr, "/team-a")
	checked := checkSums(t, a, "work", sums) + checkSums(t, a, "work", filepath.Join(in, "random.sha256"))
	if checked != files+1 {
		t.Fatalf("checked %d files through the Go client, want %d", checked, files+1)
	}
	b, _ := mountGo(t, d.addr, "/team-b")
	if got := string(readFile(t, b, "only-b")); got != "only-b\n" {
		t.Fatalf("team-b's only-b through the Go client: %q", got)
	}
	d.Stop()
	t.Logf("kernel client: %d files untarred and verified by sha256 before and after a SIGKILL restart, in the guest and through the Go client; go build on the mount ok", files)
}

// checkSums reads, through target, every file that the sha256sum file sums
// lists (its paths relative to dir) and fails t unless each has its sum. It
// returns how many files it checked.
func checkSums(t *testing.T, target *nfsc.Target, dir, sums string) int {
	t.Helper()
	list, err := os.ReadFile(sums)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("%s: line %q is not HASH  PATH", sums, line)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(readFile(t, target, path.Join(dir, name)))); got != want {
			t.Errorf("%s through the Go client: sha256 %s, want %s", path.Join(dir, name), got, want)
		}
		n++
	}
	return n
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
