package nfsvm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// vmScript checks the guest from inside: the host's tools, the private
// directories, a read-only host root, a forwarded port (an echo server), a
// port of 127.0.0.1 that is not forwarded, and its clock (the time it
// measures over 3 s against the host's, read from a clock server); it
// writes to $OUT and exits 7.
const vmScript = `set -eu
echo "env NFS=$NFS OUT=$OUT NFS_HOST=$NFS_HOST NFS_PORT=${NFS_PORT:-none} HOME=$HOME"
for tool in go tar sha256sum git setpriv mount.nfs bash; do
	command -v $tool >/dev/null || { echo "missing $tool"; exit 1; }
done
for d in /tmp /run /root /var/tmp; do
	echo "$d: $(stat -f -c %%T $d)"
done
if touch /usr/nfsvm-was-here 2>/dev/null; then echo "the host's root is writable"; exit 1; fi
bash -c 'exec 3<>/dev/tcp/$NFS_HOST/%[1]d; echo ping >&3; read -r l <&3; echo "forwarded: $l"'
if timeout 20 bash -c 'exec 3<>/dev/tcp/$NFS_HOST/%[2]d' 2>/dev/null; then
	echo "reached port %[2]d, which is not forwarded"
	exit 1
fi
echo "not forwarded: refused"
bash -c 'exec 4<>/dev/tcp/$NFS_HOST/%[3]d
g0=$(date +%%s%%N); echo t >&4; read -r h0 <&4
sleep 3
g1=$(date +%%s%%N); echo t >&4; read -r h1 <&4
echo "clock guest=$((g1-g0)) host=$((h1-h0)) source=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"'
echo result > $OUT/result
exit 7
`

func TestRun(t *testing.T) {
	vm := ForTest(t)
	echo := echoServer(t, "127.0.0.1:0", "host")
	defer echo.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	var reached atomic.Int32
	go func() {
		for {
			c, err := closed.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	port := func(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
	clock := clockServer(t)
	defer clock.Close()
	script := fmt.Sprintf(vmScript, port(echo), port(closed), port(clock))

	for _, network := range []Network{NetTap, NetUser} {
		t.Run(string(network), func(t *testing.T) {
			vm := *vm
			vm.Network = network
			fdsBefore := openFiles(t)
			out := filepath.Join(t.TempDir(), "out")
			var output testenv.SyncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res, err := vm.Run(ctx, script, RunOptions{Forward: []int{port(echo), port(clock)}, OutDir: out, Output: &output})
			t.Logf("nfsvm: %s\n%s", res, output.String())
			var exit *ExitError
			if !errors.As(err, &exit) || exit.Code != 7 || res.ExitCode != 7 {
				t.Fatalf("Run: %v (result %s), want exit status 7", err, res)
			}
			if res.Network != network || res.Boot <= 0 || res.Boot > res.Elapsed {
				t.Errorf("result %s: want network %s and a boot time within the run", res, network)
			}
			for _, want := range []string{
				"NFS=" + GuestMount + " OUT=" + GuestOut + " NFS_HOST=" + hostAddr + " NFS_PORT=none HOME=/root",
				"/tmp: tmpfs", "/run: tmpfs", "/root: tmpfs", "/var/tmp: tmpfs",
				"forwarded: host ping", "not forwarded: refused",
			} {
				if !strings.Contains(output.String(), want) {
					t.Errorf("guest output lacks %q", want)
				}
			}
			checkGuestClock(t, output.String())
			if n := reached.Load(); n != 0 {
				t.Errorf("the port that is not forwarded was reached %d times", n)
			}
			if b, err := os.ReadFile(filepath.Join(out, "result")); err != nil || string(b) != "result\n" {
				t.Errorf("$OUT/result on the host: %q, %v", b, err)
			}
			if fdsAfter := openFiles(t); fdsAfter > fdsBefore {
				t.Errorf("%d open files before the run, %d after: the run leaks (its tap device or listeners)", fdsBefore, fdsAfter)
			}
		})
	}
}

// clockServer answers every line with the host's time in nanoseconds.
func clockServer(t *testing.T) net.Listener {
	t.Helper()
	return lineServer(t, "127.0.0.1:0", func(string) string { return strconv.FormatInt(time.Now().UnixNano(), 10) }, "")
}

// checkGuestClock: the guest keeps time with its TSC (see kernelCmdline),
// and what it measured over an interval is the host's measure within 10%
// (the two reads of the host's clock add a round trip each).
func checkGuestClock(t *testing.T, output string) {
	t.Helper()
	var guest, host int64
	var source string
	i := strings.Index(output, "clock guest=")
	if i < 0 {
		t.Errorf("guest output lacks its clock line")
		return
	}
	if _, err := fmt.Sscanf(output[i:], "clock guest=%d host=%d source=%s", &guest, &host, &source); err != nil {
		t.Errorf("parsing the guest's clock line: %v", err)
		return
	}
	if source != "tsc" {
		t.Errorf("guest clock source %q, want tsc", source)
	}
	if host < int64(3*time.Second) || math.Abs(float64(guest-host)) > 0.1*float64(host) {
		t.Errorf("the guest measured %v where the host measured %v", time.Duration(guest), time.Duration(host))
	}
}

// openFiles counts this process's open files but pipes: the runtime keeps
// the pipes of splice (TCP to TCP copies) in a pool for reuse.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if link, _ := os.Readlink("/proc/self/fd/" + fd.Name()); !strings.HasPrefix(link, "pipe:") {
			n++
		}
	}
	return n
}
