package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// guestHostStep is a shell function for guest scripts: `hoststep NAME` asks
// the host to do step NAME (a file NAME-please on the control export,
// mounted at /tmp/ctl) and waits until it is done (NAME-done).
const guestHostStep = `mkdir -p /tmp/ctl
mount -t nfs -o vers=3,nolock,tcp,port=$NFS_PORT,mountport=$NFS_PORT,addr=$NFS_HOST,noac $NFS_HOST:/ctl /tmp/ctl
hoststep() {
	echo "== host step $1"
	touch /tmp/ctl/$1-please
	i=0
	while [ ! -e /tmp/ctl/$1-done ]; do
		i=$((i+1)); [ $i -lt 600 ] || { echo "the host did not do $1"; exit 1; }
		sleep 0.5; ls /tmp/ctl >/dev/null 2>&1 || true
	done
}
`

// runGuestWithHostSteps runs script in the VM on export path of d (whose
// config must have an export "ctl"), doing each host step the guest asks
// for, in any order. It returns the guest's output.
func runGuestWithHostSteps(t *testing.T, d *daemon, path, script string, steps map[string]func()) string {
	t.Helper()
	vm := nfsvm.ForTest(t)
	limit := 15 * time.Minute
	if deadline, ok := t.Deadline(); ok {
		limit = min(limit, time.Until(deadline)-30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out testenv.SyncBuffer
	var res nfsvm.Result // set before done is sent
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = vm.Run(ctx, guestHostStep+script, nfsvm.RunOptions{Port: port(t, d), Export: path, Output: &out})
		done <- err
	}()
	pending := make(map[string]func(), len(steps))
	for k, v := range steps {
		pending[k] = v
	}
	var ctl *goMount
	for {
		select {
		case err := <-done:
			if ctl != nil {
				ctl.client.Close()
			}
			if err != nil {
				t.Fatalf("the guest script failed (%v; nfsvm %s):\n%s\nzerofsd log:\n%s", err, res, out.String(), tail(d.Logs(), 80))
			}
			if len(pending) > 0 {
				t.Fatalf("the guest never asked for steps %v:\n%s", pending, out.String())
			}
			return out.String()
		case <-time.After(500 * time.Millisecond):
		}
		if ctl == nil {
			m, err := mountGoQuiet(d.addr, "/ctl")
			if err != nil {
				continue // restarting
			}
			ctl = m
		}
		for name, step := range pending {
			if _, _, err := ctl.target.Lookup(name + "-please"); err != nil {
				continue
			}
			ctl.client.Close()
			ctl = nil
			step()
			delete(pending, name)
			m, err := mountGoQuiet(d.addr, "/ctl")
			if err != nil {
				t.Fatalf("mounting /ctl after step %s: %v", name, err)
			}
			f, err := m.target.OpenFile(name+"-done", 0o644)
			if err != nil {
				t.Fatalf("writing %s-done: %v", name, err)
			}
			f.Close()
			ctl = m
			break
		}
	}
}

// snapshotScript writes files, has the host snapshot them, changes and
// deletes them, and reads the old versions under .snapshots byte for byte.
const snapshotScript = `set -eu
step() { echo "== $*"; }
step "write files"
mkdir -p $NFS/dir/sub
echo "first version" > $NFS/keep.txt
echo "deleted later" > $NFS/dir/sub/gone.txt
dd if=/dev/urandom of=$NFS/big.bin bs=64k count=37 status=none
dd if=/dev/urandom of=$NFS/dir/unread.bin bs=4k count=5 status=none
ln -s keep.txt $NFS/link
(cd $NFS && sha256sum keep.txt dir/sub/gone.txt big.bin > /tmp/before.sum)
sync
hoststep snapshot

step "change and delete the live files"
echo "second version" > $NFS/keep.txt
dd if=/dev/urandom of=$NFS/big.bin bs=64k count=3 conv=notrunc status=none
rm -r $NFS/dir/sub
echo new > $NFS/new.txt
sync

step "the snapshot directory"
ls -la $NFS/.snapshots
test -d $NFS/.snapshots/before
ls -la $NFS/.snapshots/before
ls -la $NFS/.snapshots/before/dir/sub
test "$(ls -A $NFS | grep -c snapshots || true)" = 0 || { echo ".snapshots is listed in the root"; exit 1; }

step "old versions byte for byte"
(cd $NFS/.snapshots/before && sha256sum -c /tmp/before.sum)
test "$(cat $NFS/.snapshots/before/keep.txt)" = "first version"
test "$(readlink $NFS/.snapshots/before/link)" = keep.txt
test ! -e $NFS/.snapshots/before/new.txt
test "$(cat $NFS/keep.txt)" = "second version"
test ! -e $NFS/dir/sub
if (cd $NFS && sha256sum -c --quiet /tmp/before.sum >/dev/null 2>&1); then echo "the live files did not change"; exit 1; fi

step "a snapshot is another filesystem (its own device)"
test "$(stat -c %d $NFS)" != "$(stat -c %d $NFS/.snapshots/before)"
grep -c .snapshots/before /proc/mounts || true

step "every change fails with EROFS"
for cmd in "touch $NFS/.snapshots/before/x" "rm $NFS/.snapshots/before/keep.txt" "mkdir $NFS/.snapshots/before/d" \
	"mv $NFS/.snapshots/before/keep.txt $NFS/.snapshots/before/k2" "chmod 600 $NFS/.snapshots/before/keep.txt" \
	"ln -s x $NFS/.snapshots/before/sl" \
	"rmdir $NFS/.snapshots/before/dir/sub" "mkdir $NFS/.snapshots/made" "rm -r $NFS/.snapshots/before"; do
	if err=$(sh -c "$cmd" 2>&1); then echo "succeeded: $cmd"; exit 1; fi
	case "$err" in *"Read-only file system"*) ;; *) echo "$cmd: $err (want EROFS)"; exit 1;; esac
done
step "opening a file for writing is refused (ACCESS grants no write, as on a read_only export)"
for cmd in "truncate -s 0 $NFS/.snapshots/before/keep.txt" "echo x >> $NFS/.snapshots/before/keep.txt" \
	"touch -d 2001-01-01 $NFS/.snapshots/before/keep.txt"; do
	if err=$(sh -c "$cmd" 2>&1); then echo "succeeded: $cmd"; exit 1; fi
	case "$err" in *"Read-only file system"*|*"Permission denied"*) ;; *) echo "$cmd: $err"; exit 1;; esac
done
test "$(cat $NFS/.snapshots/before/keep.txt)" = "first version"

step "a deleted snapshot is stale, never other data"
exec 3< $NFS/.snapshots/before/dir/unread.bin
hoststep delete
if cat <&3 >/dev/null 2>/tmp/err; then echo "read of a deleted snapshot succeeded"; exit 1; fi
cat /tmp/err
grep -q "Stale file handle" /tmp/err
exec 3<&-
echo 3 > /proc/sys/vm/drop_caches # what the client cached of it is not asked again before then
if ls $NFS/.snapshots/before/keep.txt 2>/tmp/err; then echo "deleted snapshot still there"; exit 1; fi
cat /tmp/err
step "all checks passed"
`

// TestKernelSnapshots: the Linux kernel client sees checkpoints under
// .snapshots: old versions byte for byte after the live files changed, ls
// -la, EROFS for every change, ESTALE once the checkpoint is deleted; fsck
// of the snapshot is clean.
func TestKernelSnapshots(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: "squash = \"none\"\nsnapshot_dir = \".snapshots\""},
		{Name: "ctl", Store: "file://" + filepath.Join(dir, "ctl"), Extra: "squash = \"none\""},
	})
	d.Start()
	run := exportCommand(t, d, "team-a")
	out := runGuestWithHostSteps(t, d, "/team-a", snapshotScript, map[string]func(){
		"snapshot": func() {
			// A clean stop writes every change out as SSTs, which an
			// outside checkpoint holds.
			d.Stop()
			run("checkpoint", "create", "--name", "before")
			if out := run("fsck", "--checkpoint", "before"); !strings.Contains(out, "clean") {
				t.Errorf("fsck of the snapshot:\n%s", out)
			}
			d.Start()
		},
		"delete": func() {
			run("checkpoint", "delete", "--name", "before")
			time.Sleep(3 * time.Second) // the daemon lists checkpoints again after 2 s
		},
	})
	t.Logf("kernel client output:\n%s", out)
	if !strings.Contains(out, "== all checks passed") {
		t.Fatalf("the guest script did not reach its end:\n%s", out)
	}
	d.Stop()
}

// exportCommand returns a runner of zerofsd maintenance commands (args
// first, then the daemon's config and --export) that fails the test when
// the command fails, and returns its output.
func exportCommand(t *testing.T, d *daemon, export string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, err := runBinary(t, append(args, "-c", d.config, "--export", export)...)
		if err != nil {
			t.Fatalf("zerofsd %v: %v\n%s", args, err, out)
		}
		return out
	}
}
