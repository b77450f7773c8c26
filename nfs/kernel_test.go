package nfs_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs"
)

// kernelScript runs in the nfsvm guest against /team-a (at $NFS) and
// /team-b (mounted by the script).
const kernelScript = `#!/bin/sh
set -eu
cd "$NFS"
mkdir -p dir/sub
dd if=/dev/urandom of=/tmp/big bs=1M count=8 2>/dev/null
cp /tmp/big dir/big
sync
cmp /tmp/big dir/big
echo hello > dir/small
ln dir/small dir/hard
ln -s small dir/soft
[ "$(cat dir/soft)" = hello ]
[ "$(stat -c %h dir/small)" = 2 ]
chmod 600 dir/small
[ "$(stat -c %a dir/hard)" = 600 ]
mkfifo dir/fifo
[ -p dir/fifo ]
mknod dir/null c 1 3
[ -c dir/null ]
mv dir/small dir/sub/moved
[ "$(cat dir/sub/moved)" = hello ]
for i in $(seq 1 300); do echo $i > dir/sub/f$i; done
[ "$(ls dir/sub | wc -l)" = 301 ]
truncate -s 100 dir/big
[ "$(stat -c %s dir/big)" = 100 ]
touch -d '2020-01-02 03:04:05' dir/hard
[ "$(stat -c %Y dir/hard)" = "$(date -d '2020-01-02 03:04:05' +%s)" ]
mkdir /tmp/b
mount -t nfs -o vers=3,nolock,tcp,port=$NFS_PORT,mountport=$NFS_PORT,mountproto=tcp,addr=$NFS_HOST,mountaddr=$NFS_HOST $NFS_HOST:/team-b /tmp/b
[ -z "$(ls /tmp/b)" ]
echo b > /tmp/b/only-b
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

// tarScript times `tar -xf` of $TAR on the guest's tmpfs and on the NFS
// mount, twice each, and prints the times and their ratio.
const tarScript = `#!/bin/sh
set -eu
t() { s=$(date +%s%N); tar -xf "$TAR" -C "$1"; sync; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
mkdir -p /tmp/x1 /tmp/x2 "$NFS/x1" "$NFS/x2"
a=$(t /tmp/x1); b=$(t "$NFS/x1"); c=$(t /tmp/x2); d=$(t "$NFS/x2")
(cd /tmp/x1 && find . -type f | sort | xargs md5sum) > /tmp/sum1
(cd "$NFS/x1" && find . -type f | sort | xargs md5sum) > /tmp/sum2
cmp /tmp/sum1 /tmp/sum2
echo "tmpfs_ms=$a,$c nfs_ms=$b,$d ratio=$(( (b + d) * 100 / (a + c) ))%"
echo TAR OK
`

// TestLinuxKernelTar times tar -xf of the tarball named by
// ZEROFS_NFSVM_TAR (kept outside /tmp, which the guest cannot see) through
// the kernel client against the guest's tmpfs. It is a benchmark: it
// asserts only that the extracted files are identical.
func TestLinuxKernelTar(t *testing.T) {
	tarball := os.Getenv("ZEROFS_NFSVM_TAR")
	if tarball == "" {
		t.Skip("set ZEROFS_NFSVM_TAR=/path/outside/tmp/src.tar to time tar -xf through the kernel client")
	}
	vm := nfsvm.ForTest(t)
	fs, _ := newFS(t)
	stats := &procStats{byProc: map[string]*procStat{}}
	ts := startServer(t, nfs.ServerOptions{Observer: stats}, &nfs.Export{Name: "a", Path: "/team-a", FS: fs})
	defer stats.log(t)
	out, err := runGuest(t, vm, ts.addr, "#!/bin/sh\nTAR="+tarball+"\n"+strings.TrimPrefix(tarScript, "#!/bin/sh\n"))
	if err != nil || !strings.Contains(out, "TAR OK") {
		t.Fatalf("tar benchmark failed: %v", err)
	}
}

// procStats counts calls and their server-side time by procedure.
type procStats struct {
	mu     sync.Mutex
	byProc map[string]*procStat
}

type procStat struct {
	calls, errors int
	total         time.Duration
}

func (p *procStats) CallDone(c nfs.CallInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.byProc[c.Proc]
	if s == nil {
		s = &procStat{}
		p.byProc[c.Proc] = s
	}
	s.calls++
	s.total += c.Duration
	if c.Status != 0 {
		s.errors++
	}
}

func (p *procStats) log(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, s := range p.byProc {
		t.Logf("%-12s calls %6d  errors %5d  server time %v", name, s.calls, s.errors, s.total)
	}
}

// TestLinuxKernelScript runs the guest script named by
// ZEROFS_NFSVM_SCRIPT against /team-a and /team-b,
// for experiments; it logs the output and per-procedure server stats.
func TestLinuxKernelScript(t *testing.T) {
	script := os.Getenv("ZEROFS_NFSVM_SCRIPT")
	if script == "" {
		t.Skip("set ZEROFS_NFSVM_SCRIPT=/path/to/script.sh to run a guest script")
	}
	vm := nfsvm.ForTest(t)
	body, err := os.ReadFile(script)
	check(t, err)
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	stats := &procStats{byProc: map[string]*procStat{}}
	ts := startServer(t, nfs.ServerOptions{Observer: stats}, &nfs.Export{Name: "a", Path: "/team-a", FS: fsA}, &nfs.Export{Name: "b", Path: "/team-b", FS: fsB})
	defer stats.log(t)
	if _, err := runGuest(t, vm, ts.addr, string(body)); err != nil {
		t.Fatalf("guest script failed: %v", err)
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
