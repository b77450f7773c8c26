package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

// hostTool finds a client tool of nfs-common or rpcbind (in /usr/sbin,
// which a user's PATH may lack), or skips (fails under ZEROFS_REQUIRE_HOST=1).
func hostTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := exec.LookPath(p); err != nil {
		require.Missing(t, require.Host, "%s is not installed (Debian packages nfs-common and rpcbind; scripts/test-deps.sh installs them)", name)
	}
	return p
}

// portmapDaemon starts zerofsd with the given [server] lines and two
// exports: team-a open to every client (root not squashed), team-b only to
// 10.0.0.0/8.
func portmapDaemon(t *testing.T, serverLines string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := newDaemonWithServer(t, dir, serverLines, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
		{Name: "team-b", Store: "file://" + filepath.Join(dir, "team-b"), Extra: `allowed_clients = ["10.0.0.0/8"]`},
	})
	d.Start()
	return d
}

// nfsPort is the daemon's NFS port, as rpcinfo prints it.
func (d *daemon) nfsPort() string { return d.addr[strings.LastIndexByte(d.addr, ':')+1:] }

// rpcinfoServices runs `rpcinfo -p 127.0.0.1` and returns its lines for
// NFS and MOUNT ("100003 3 tcp PORT nfs"), waiting up to 10 s for want
// lines to appear (the daemon sets its portmapper up just after it starts
// listening for NFS).
func rpcinfoServices(t *testing.T, want int) []string {
	t.Helper()
	rpcinfo := hostTool(t, "rpcinfo")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command(rpcinfo, "-p", "127.0.0.1").CombinedOutput()
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && (f[0] == "100003" || f[0] == "100005") {
				lines = append(lines, strings.Join(f, " "))
			}
		}
		if (err == nil && len(lines) == want) || time.Now().After(deadline) {
			if err != nil && want > 0 {
				t.Fatalf("rpcinfo -p 127.0.0.1: %v\n%s", err, out)
			}
			return lines
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkShowmount runs `showmount -e 127.0.0.1`: it lists team-a, open to
// everyone, and not team-b, which 127.0.0.1 may not mount.
func checkShowmount(t *testing.T, d *daemon) {
	t.Helper()
	out, err := exec.Command(hostTool(t, "showmount"), "-e", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("showmount -e 127.0.0.1: %v\n%s\nzerofsd log:\n%s", err, out, tail(d.Logs(), 30))
	}
	if !strings.Contains(string(out), "/team-a") || strings.Contains(string(out), "/team-b") {
		t.Fatalf("showmount -e 127.0.0.1 should list /team-a only:\n%s", out)
	}
	t.Logf("showmount -e 127.0.0.1:\n%s", out)
}

func port111Free(t *testing.T) bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:111")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestPortmapServe: zerofsd serves the portmapper itself (serve, and auto
// without an rpcbind); the host's rpcinfo and showmount find NFS and MOUNT
// through it, and port 111 is free again after a clean stop.
func TestPortmapServe(t *testing.T) {
	for _, mode := range []string{"serve", "auto"} {
		t.Run(mode, func(t *testing.T) {
			hostTool(t, "rpcinfo")
			hostTool(t, "showmount")
			testenv.Port111(t)
			d := portmapDaemon(t, `portmapper = "`+mode+`"`)
			p := d.nfsPort()
			got := rpcinfoServices(t, 2)
			want := []string{"100003 3 tcp " + p + " nfs", "100005 3 tcp " + p + " mountd"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("rpcinfo -p lists %q, want %q\nzerofsd log:\n%s", got, want, tail(d.Logs(), 30))
			}
			checkShowmount(t, d)
			if !strings.Contains(d.Logs(), "serving the portmapper") {
				t.Errorf("no INFO line saying the portmapper is served:\n%s", tail(d.Logs(), 30))
			}
			d.Stop()
			if !port111Free(t) {
				t.Fatal("port 111 still taken after zerofsd stopped")
			}
		})
	}
}

// TestPortmapRegister: zerofsd registers with the host's rpcbind (register,
// and auto when rpcbind answers), registers again over the stale entries of
// a killed run, and unregisters on a clean stop.
func TestPortmapRegister(t *testing.T) {
	for _, mode := range []string{"register", "auto"} {
		t.Run(mode, func(t *testing.T) {
			hostTool(t, "rpcinfo")
			hostTool(t, "showmount")
			testenv.RPCBind(t)
			d := portmapDaemon(t, `portmapper = "`+mode+`"`)
			p := d.nfsPort()
			want := []string{"100003 3 tcp " + p + " nfs", "100005 3 tcp " + p + " mountd"}
			if got := rpcinfoServices(t, 2); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("rpcinfo -p lists %q, want %q\nzerofsd log:\n%s", got, want, tail(d.Logs(), 30))
			}
			checkShowmount(t, d)

			// A crash leaves the registrations behind; the next start replaces them.
			d.Kill()
			if got := rpcinfoServices(t, 2); len(got) != 2 {
				t.Fatalf("after SIGKILL rpcbind lists %q, want the stale registrations", got)
			}
			d.Start()
			if got := rpcinfoServices(t, 2); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("after a restart rpcinfo -p lists %q, want %q\nzerofsd log:\n%s", got, want, tail(d.Logs(), 30))
			}
			checkShowmount(t, d)
			d.Stop()
			if got := rpcinfoServices(t, 0); len(got) != 0 {
				t.Fatalf("after a clean stop rpcbind still lists %q\nzerofsd log:\n%s", got, tail(d.Logs(), 30))
			}
			if !strings.Contains(d.Logs(), "unregistered NFS and MOUNT from rpcbind") {
				t.Errorf("no INFO line saying the registrations were removed:\n%s", tail(d.Logs(), 30))
			}
		})
	}
}

// TestPortmapAutoCannotBind: in auto mode, when no rpcbind answers and the
// portmapper's port cannot be bound, zerofsd warns (naming port= and
// mountport=) and serves NFS anyway.
func TestPortmapAutoCannotBind(t *testing.T) {
	testenv.Port111(t) // no rpcbind of another test answers meanwhile
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	d := portmapDaemon(t, `portmapper = "auto"`+"\nportmapper_listen = \""+taken.Addr().String()+"\"")
	p := d.nfsPort()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.Logs(), "level=WARN") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	logs := d.Logs()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "port="+p+",mountport="+p) {
		t.Fatalf("no WARN naming port=%s,mountport=%s:\n%s", p, p, tail(logs, 30))
	}
	target, client := mountGo(t, d.addr, "/team-a")
	defer client.Close()
	writeFile(t, target, "still-served", []byte("yes"))
	d.Stop()
}

// TestPortmapServeCannotBind: with portmapper = "serve", a port that cannot
// be bound stops zerofsd at start with an error naming the keys.
func TestPortmapServeCannotBind(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	d := newDaemonWithServer(t, dir, `portmapper = "serve"`+"\nportmapper_listen = \""+taken.Addr().String()+"\"", []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a")},
	})
	out, err := runBinary(t, "run", "-c", d.config)
	if err == nil || !strings.Contains(out, "server.portmapper_listen") || !strings.Contains(out, "address already in use") {
		t.Fatalf("zerofsd run with the portmapper's port taken: %v\n%s", err, out)
	}
}
