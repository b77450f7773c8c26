package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// errNoExit is signalWithin's error when the process outlived its bound.
var errNoExit = errors.New("no exit")

// zerofsdBinary is built once per test binary by TestMain.
var zerofsdBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zerofsd-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	zerofsdBinary = filepath.Join(dir, "zerofsd")
	build := exec.Command("go", "build", "-o", zerofsdBinary, "../cmd/zerofsd")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building zerofsd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemon is one zerofsd process under test.
type daemon struct {
	t      testing.TB
	config string
	addr   string
	env    []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *testenv.SyncBuffer
	exited chan struct{} // closed when cmd has exited, with exitErr set
	// exitErr is cmd.Wait's error: read it only once exited is closed.
	exitErr error
}

// exportSpec is one export in a generated config.
type exportSpec struct {
	Name  string
	Path  string // mount path; default "/" + Name
	Store string // store URL
	Extra string // more TOML lines for this export
}

// toml renders the export as an [[exports]] table.
func (e exportSpec) toml() string {
	path := e.Path
	if path == "" {
		path = "/" + e.Name
	}
	return fmt.Sprintf("[[exports]]\nname = %q\npath = %q\nstore = %q\n%s\n", e.Name, path, e.Store, e.Extra)
}

// newDaemon writes a config under dir with the given exports and returns a
// daemon ready to Start. The cache lives in dir/cache.
func newDaemon(t testing.TB, dir string, exports []exportSpec, env ...string) *daemon {
	t.Helper()
	return newDaemonWithServer(t, dir, "", exports, env...)
}

// newDaemonWithServer is newDaemon with more lines for the [server] table.
func newDaemonWithServer(t testing.TB, dir, serverExtra string, exports []exportSpec, env ...string) *daemon {
	t.Helper()
	port := freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"127.0.0.1:%d\"\nlog_level = \"debug\"\n%s%s\n\n", port, portmapperOff(serverExtra), serverExtra)
	fmt.Fprintf(&b, "[cache]\ndir = %q\nsize_gb = 0.5\n\n", filepath.Join(dir, "cache"))
	for _, e := range exports {
		b.WriteString(e.toml())
	}
	path := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, config: path, addr: fmt.Sprintf("127.0.0.1:%d", port), env: env}
	t.Cleanup(func() {
		d.Kill()
		if t.Failed() {
			// The end of the daemon's log says why it died, if it did.
			logs := d.Logs()
			if len(logs) > 16<<10 {
				logs = "...\n" + logs[len(logs)-16<<10:]
			}
			t.Logf("zerofsd %s (%s), the end of its log:\n%s", d.addr, d.config, logs)
		}
	})
	return d
}

// portmapperOff turns the portmapper off unless the [server] lines say
// otherwise: test daemons run side by side, and port 111 is one per host
// (the portmapper's own tests take it in turn, see testenv.Port111).
func portmapperOff(serverLines string) string {
	if strings.Contains(serverLines, "portmapper") {
		return ""
	}
	return "portmapper = \"off\"\n"
}

// Start runs zerofsd and waits until it accepts connections.
func (d *daemon) Start() {
	d.t.Helper()
	d.Launch()
	d.WaitListening()
}

// Launch runs zerofsd without waiting for it to serve.
func (d *daemon) Launch() {
	d.t.Helper()
	d.mu.Lock()
	cmd := exec.Command(zerofsdBinary, "run", "-c", d.config)
	// Tests talk to loopback only: never let the S3 SDK look for instance
	// credentials on the network.
	cmd.Env = append(append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true"), d.env...)
	logs := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		d.t.Fatalf("starting zerofsd: %v", err)
	}
	exited := make(chan struct{})
	d.cmd, d.log, d.exited = cmd, logs, exited
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.exitErr = err
		d.mu.Unlock()
		close(exited)
	}()
}

// WaitListening waits until the process Launch started accepts connections.
func (d *daemon) WaitListening() {
	d.t.Helper()
	d.mu.Lock()
	logs, exited := d.log, d.exited
	d.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", d.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			d.mu.Lock()
			err := d.exitErr
			d.mu.Unlock()
			d.t.Fatalf("zerofsd exited (%v) before listening on %s; its log:\n%s", err, d.addr, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	d.t.Fatalf("zerofsd did not start listening on %s; its log:\n%s", d.addr, logs.String())
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (d *daemon) Kill() {
	d.signal(syscall.SIGKILL)
}

// Stop ends the process with SIGTERM (a clean shutdown) and checks it exited 0.
func (d *daemon) Stop() {
	d.t.Helper()
	if err := d.signal(syscall.SIGTERM); err != nil {
		d.t.Errorf("zerofsd did not exit cleanly on SIGTERM: %v; its log:\n%s", err, d.Logs())
	}
}

func (d *daemon) signal(sig syscall.Signal) error {
	return d.signalWithin(sig, 2*time.Minute)
}

// signalWithin sends sig and waits up to within for the process to exit
// (killing it after that); it returns how the process exited (nil for
// status 0; nil always for SIGKILL).
func (d *daemon) signalWithin(sig syscall.Signal, within time.Duration) error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		if sig == syscall.SIGKILL {
			return nil
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.exitErr
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%w within %v after %v", errNoExit, within, sig)
	}
}

// Send sends sig to the running process and returns at once.
func (d *daemon) Send(sig syscall.Signal) error {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil {
		return errors.New("zerofsd is not running")
	}
	return cmd.Process.Signal(sig)
}

// Logs returns everything the current (or last) process wrote.
func (d *daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.log == nil {
		return ""
	}
	return d.log.String()
}

// ctx returns a context bounded for one test step.
func stepContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
