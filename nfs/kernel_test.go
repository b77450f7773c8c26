package nfs_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs"
)

// kernelScript runs in the nfsvm guest against /team-a (at $NFS) and
// /team-b (mounted by the script). Each check of what the server holds
// comes after fresh: the client could otherwise answer from the pages and
// attributes it cached when it wrote.
const kernelScript = `#!/bin/sh
set -eu
fresh() { sync; echo 3 > /proc/sys/vm/drop_caches; }
cd "$NFS"
mkdir -p dir/sub
dd if=/dev/urandom of=/tmp/big bs=1M count=8 2>/dev/null
cp /tmp/big dir/big
fresh
cmp /tmp/big dir/big
echo hello > dir/small
ln dir/small dir/hard
ln -s small dir/soft
fresh
[ "$(cat dir/soft)" = hello ]
[ "$(stat -c %h dir/small)" = 2 ]
chmod 600 dir/small
fresh
[ "$(stat -c %a dir/hard)" = 600 ]
mkfifo dir/fifo
mknod dir/null c 1 3
fresh
[ -p dir/fifo ]
[ -c dir/null ]
mv dir/small dir/sub/moved
fresh
[ "$(cat dir/sub/moved)" = hello ]
for i in $(seq 1 300); do echo $i > dir/sub/f$i; done
fresh
[ "$(ls dir/sub | wc -l)" = 301 ]
[ "$(cat dir/sub/f300)" = 300 ]
truncate -s 100 dir/big
fresh
[ "$(stat -c %s dir/big)" = 100 ]
cmp -n 100 /tmp/big dir/big
touch -d '2020-01-02 03:04:05' dir/hard
fresh
[ "$(stat -c %Y dir/hard)" = "$(date -d '2020-01-02 03:04:05' +%s)" ]
mkdir /tmp/b
mount -t nfs -o vers=3,nolock,tcp,port=$NFS_PORT,mountport=$NFS_PORT,mountproto=tcp,addr=$NFS_HOST,mountaddr=$NFS_HOST $NFS_HOST:/team-b /tmp/b
[ -z "$(ls /tmp/b)" ]
echo b > /tmp/b/only-b
fresh
[ "$(cat /tmp/b/only-b)" = b ]
[ ! -e "$NFS/only-b" ]
rm -rf dir
[ -z "$(ls "$NFS")" ]
umount /tmp/b
echo ALL OK
`

// TestLinuxKernelClient mounts two exports with the Linux kernel client
// through internal/nfsvm. It is slow (a VM boots), so it runs only with
// ZEROFS_NFSVM=1 (`make test` sets it).
func TestLinuxKernelClient(t *testing.T) {
	if os.Getenv("ZEROFS_NFSVM") != "1" {
		t.Skip("set ZEROFS_NFSVM=1 to run the kernel client test")
	}
	vm := nfsvm.ForTest(t)
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/team-a", FS: fsA}, &nfs.Export{Name: "b", Path: "/team-b", FS: fsB})
	out, err := runGuest(t, vm, ts.addr, kernelScript)
	if err != nil || !strings.Contains(out, "ALL OK") {
		t.Fatalf("kernel client script failed: %v", err)
	}
}

// runGuest runs script in the nfsvm guest with /team-a of the server at
// addr mounted at $NFS, logs how it went and returns its output.
func runGuest(t *testing.T, vm *nfsvm.VM, addr, script string) (string, error) {
	t.Helper()
	_, portStr, err := net.SplitHostPort(addr)
	check(t, err)
	port, err := strconv.Atoi(portStr)
	check(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var out testenv.SyncBuffer
	res, err := vm.Run(ctx, script, nfsvm.RunOptions{Port: port, Export: "/team-a", Output: &out})
	t.Logf("nfsvm: %s; guest output:\n%s", res, out.String())
	return out.String(), err
}
