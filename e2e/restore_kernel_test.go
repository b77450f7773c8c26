package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// restoreScript has the host restore a checkpoint while the export is
// mounted and served, then undo the restore, checking the tree each time.
const restoreScript = `set -eu
step() { echo "== $*"; }
fresh() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step "version 1"
echo "version 1" > $NFS/keep.txt
dd if=/dev/urandom of=$NFS/big.bin bs=64k count=20 status=none
mkdir -p $NFS/dir && echo "in a directory" > $NFS/dir/file
(cd $NFS && sha256sum keep.txt big.bin dir/file > /tmp/v1.sum)
sync
hoststep checkpoint

step "version 2"
echo "version 2" > $NFS/keep.txt
echo "made in version 2" > $NFS/new.txt
rm $NFS/big.bin
(cd $NFS && sha256sum keep.txt new.txt dir/file > /tmp/v2.sum)
sync
hoststep restore

step "the mount serves version 1"
fresh
(cd $NFS && sha256sum -c /tmp/v1.sum)
test ! -e $NFS/new.txt
ls -la $NFS
step "and takes writes"
echo "after the restore" > $NFS/after.txt
sync
test "$(cat $NFS/after.txt)" = "after the restore"
hoststep undo

step "the mount serves version 2 again"
fresh
(cd $NFS && sha256sum -c /tmp/v2.sum)
test ! -e $NFS/big.bin
test ! -e $NFS/after.txt
echo "after the undo" > $NFS/undone.txt
sync
step "all checks passed"
`

// TestKernelRestore: zerofsd checkpoint restore while the daemon serves
// the export to a mounted kernel client; the daemon reopens the store and
// the same mount shows the restored tree, takes writes, and shows the
// replaced tree again after the restore is undone.
func TestKernelRestore(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: "squash = \"none\""},
		{Name: "ctl", Store: "file://" + filepath.Join(dir, "ctl"), Extra: "squash = \"none\""},
	})
	d.Start()
	run := exportCommand(t, d, "team-a")
	waitReopened := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for strings.Count(d.Logs(), "serving the restored tree") < n {
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not reopen the restored store:\n%s", tail(d.Logs(), 40))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	out := runGuestWithHostSteps(t, d, "/team-a", restoreScript, map[string]func(){
		"checkpoint": func() {
			d.Stop() // a clean stop writes every change out as SSTs
			run("checkpoint", "create", "--name", "v1")
			d.Start()
		},
		"restore": func() {
			out := run("checkpoint", "restore", "--name", "v1", "--undo", "undo-1")
			t.Logf("restore: %s", out)
			waitReopened(1)
		},
		"undo": func() {
			run("checkpoint", "restore", "--name", "undo-1", "--undo", "undo-2")
			waitReopened(2)
		},
	})
	t.Logf("kernel client output:\n%s", out)
	if !strings.Contains(out, "== all checks passed") {
		t.Fatalf("the guest script did not reach its end:\n%s", out)
	}
	if out := run("checkpoint", "list"); !strings.Contains(out, "undo-1") || !strings.Contains(out, "undo-2") {
		t.Fatalf("checkpoint list after restore and undo:\n%s", out)
	}
	if strings.Contains(d.Logs(), "fenced by another writer") {
		t.Fatalf("a restore was taken for another writer:\n%s", tail(d.Logs(), 40))
	}
	d.Stop()
}
