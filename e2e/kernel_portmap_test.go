package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// kernelPortmapScript mounts /team-a the way a user would, with no port
// options: mount.nfs asks the portmapper at $NFS_HOST:111 for NFS and
// MOUNT. Then a file is written and read back through that mount, and
// showmount asks for the export list.
const kernelPortmapScript = `set -eu
step() { echo "== $*"; }
step "mount -o vers=3,nolock $NFS_HOST:/team-a, no port options"
mkdir -p /tmp/pm
mount -v -t nfs -o vers=3,nolock $NFS_HOST:/team-a /tmp/pm
grep ' /tmp/pm ' /proc/mounts
step "write and read a file"
echo "found by the portmapper" > /tmp/pm/hello.txt
sync
test "$(cat /tmp/pm/hello.txt)" = "found by the portmapper"
test "$(cat $NFS/hello.txt)" = "found by the portmapper"
step "showmount -e"
# showmount asks rpcbind v4 GETADDR over TCP, whose answer is a whole address:
# the one the query reached. Here that is 127.0.0.1 (the server listens there,
# and the harness relays $NFS_HOST's ports to it), so make 127.0.0.1:PORT in
# the guest lead to the server, as the real address would on a real network.
socat TCP-LISTEN:$NFS_PORT,bind=127.0.0.1,fork,reuseaddr TCP:$NFS_HOST:$NFS_PORT &
relay=$!
i=0; until ss -ltn | grep -q " 127.0.0.1:$NFS_PORT "; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
showmount -e $NFS_HOST | tee /tmp/showmount.out
kill $relay
grep -q '^/team-a ' /tmp/showmount.out
if grep -q '/team-b' /tmp/showmount.out; then echo "team-b is listed, but this client may not mount it"; exit 1; fi
umount /tmp/pm
step "all checks passed"
`

// TestKernelPortmap: the Linux kernel client (in a VM through
// internal/nfsvm) mounts an export with `-o vers=3,nolock` and no port
// options, finding NFS and MOUNT through the portmapper zerofsd serves on
// port 111, and showmount lists what the client may mount.
//
// The VM reaches only the forwarded TCP ports of 127.0.0.1 (nfsvm relays
// TCP, not UDP): mount.nfs first asks the portmapper over UDP for
// MOUNT, is refused (port unreachable), and asks again over TCP, as it does
// with any server whose portmapper UDP is filtered. mount.nfs uses PMAP v2
// GETPORT, which answers a port; showmount uses rpcbind GETADDR, which
// answers an address too, and the address zerofsd sees the query reach is
// 127.0.0.1 (behind the harness's relay): the script relays that address
// in the guest (see kernelPortmapScript).
func TestKernelPortmap(t *testing.T) {
	vm := nfsvm.ForTest(t)
	testenv.Port111(t)
	d := portmapDaemon(t, `portmapper = "serve"`)
	if got := rpcinfoServices(t, 2); len(got) != 2 {
		t.Fatalf("the portmapper does not list NFS and MOUNT: %q\n%s", got, tail(d.Logs(), 30))
	}
	out, err := runGuest(t, vm, 10*time.Minute, kernelPortmapScript, nfsvm.RunOptions{Port: port(t, d), Forward: []int{111}, Export: "/team-a"})
	t.Logf("guest output:\n%s", out)
	if err != nil {
		t.Fatalf("the guest script failed (%v)\nzerofsd log:\n%s", err, tail(d.Logs(), 60))
	}
	if !strings.Contains(out, "== all checks passed") {
		t.Fatalf("the guest script did not reach its end")
	}
	target, client := mountGo(t, d.addr, "/team-a")
	defer client.Close()
	if got := string(readFile(t, target, "hello.txt")); got != "found by the portmapper\n" {
		t.Fatalf("hello.txt through our client: %q", got)
	}
	d.Stop()
}
