package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
)

// kernelPermScript runs in the guest as root with /team-a (squash = "none")
// mounted at $NFS. As root it makes one object of every type owned by
// 65534:65534; uid 65533 then may not chown any of them, not even to the
// owner and group they already have (EPERM), while the owner may set its
// own uid and primary gid. Then uid 65533 runs an execute-only (0711)
// program it may not read, after the guest's page cache is dropped so
// that the program comes from the server by READ.
const kernelPermScript = `set -eu
step() { echo "== $*"; }
as() { u=$1; shift; setpriv --reuid $u --regid $u --clear-groups "$@"; }
expect_eperm() {
  desc=$1; shift
  if out=$(as 65533 "$@" 2>&1); then echo "FAIL: $desc: allowed"; exit 1; fi
  case "$out" in
  *"Operation not permitted"*) echo "ok: $desc: EPERM" ;;
  *) echo "FAIL: $desc: $out"; exit 1 ;;
  esac
}
cd $NFS
mkdir perm && cd perm
step "objects of every type owned by 65534:65534"
touch file
mkdir dir
mknod fifo p
mknod chardev c 1 3
mknod blockdev b 7 0
perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!"; bind($s, pack_sockaddr_un("sock")) or die "bind: $!"'
test -S sock
ln -s file symlink
for o in file dir fifo chardev blockdev sock symlink; do chown -h 65534:65534 $o; done
step "uid 65533 may not chown them, even to their current owner"
for o in file dir fifo chardev blockdev sock; do
  expect_eperm "chown 65534:65534 $o" chown 65534:65534 $o
  expect_eperm "chgrp 65534 $o" chgrp 65534 $o
  test "$(stat -c %u:%g $o)" = 65534:65534
done
expect_eperm "chown -h 65534:65534 symlink" chown -h 65534:65534 symlink
test "$(stat -c %u:%g symlink)" = 65534:65534
step "the owner may set its own uid and primary gid"
for o in file dir fifo chardev blockdev sock; do as 65534 chown 65534:65534 $o; done
as 65534 chown -h 65534:65534 symlink
if as 65534 chown 65533 file 2>/dev/null; then echo "FAIL: owner gave file away"; exit 1; fi
step "uid 65533 runs an execute-only program"
cp /bin/true prog
chmod 0711 prog
sync
echo 3 > /proc/sys/vm/drop_caches
as 65533 ./prog
if as 65533 cat prog >/dev/null 2>&1; then echo "FAIL: uid 65533 read an execute-only program"; exit 1; fi
step "all checks passed"
`

// TestKernelPermissions runs the ownership rules and the execute-only READ
// rule through the Linux kernel NFS client (in a VM through
// internal/nfsvm): a conformance run found chown by a non-owner to the
// current owner answered 0 instead of EPERM.
func TestKernelPermissions(t *testing.T) {
	vm := nfsvm.ForTest(t)
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: "squash = \"none\""},
	})
	d.Start()
	out, err := runGuest(t, vm, 10*time.Minute, kernelPermScript, nfsvm.RunOptions{Port: port(t, d), Export: "/team-a"})
	if err != nil || !strings.Contains(out, "== all checks passed") {
		t.Fatalf("the guest script failed (%v):\n%s\nzerofsd log:\n%s", err, out, tail(d.Logs(), 60))
	}
	t.Logf("kernel client output:\n%s", out)
	d.Stop()
}
