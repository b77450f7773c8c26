package nfsvm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Network is how the guest reaches this host; see the package comment.
type Network string

const (
	NetAuto Network = ""     // NetTap where a namespace can be made, else NetUser
	NetTap  Network = "tap"  // a tap device in a private network namespace
	NetUser Network = "user" // QEMU's user-mode network (slirp)
)

// The guest's network, the same in both modes.
const (
	hostAddr  = "10.0.2.100" // this host as the guest sees it: $NFS_HOST
	guestAddr = "10.0.2.15"
)

// Where things are in the guest.
const (
	GuestMount = "/tmp/nfs"       // $NFS: the export
	guestXfer  = "/run/nfsvm"     // the xfer share: config, env, script.sh
	GuestOut   = "/run/nfsvm/out" // $OUT: shared with RunOptions.OutDir
	guestPath  = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	mountOpts  = "vers=3,nolock,proto=tcp,mountproto=tcp,soft,timeo=600,retrans=2"
	defaultMem = 2048
	defaultCPU = 2
)

// PrivateDirs are the directories the guest has of its own (empty memory
// file systems) instead of the host's.
func PrivateDirs() []string { return []string{"/tmp", "/run", "/root", "/var/tmp"} }

// VisibleInGuest reports whether the guest sees path of this host as it is
// here: false under PrivateDirs and the kernel's /proc, /sys and /dev.
// Symbolic links of the parent directories are resolved first.
func VisibleInGuest(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	// Resolve the longest existing prefix: path itself may not exist yet.
	dir, rest := abs, ""
	for {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			abs = filepath.Join(real, rest)
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
	for _, hidden := range append(PrivateDirs(), "/proc", "/sys", "/dev") {
		if abs == hidden || strings.HasPrefix(abs, hidden+"/") {
			return false
		}
	}
	return true
}

// GuestEnv is the environment the guest's script starts with, besides
// NFS_HOST and NFS_PORT.
func GuestEnv() []string {
	return []string{"HOME=/root", "PATH=" + guestPath, "NFS=" + GuestMount, "OUT=" + GuestOut,
		"GOCACHE=/tmp/gocache", "GOPATH=/tmp/gopath", "GOFLAGS=-mod=mod"}
}

// RunOptions are the knobs of one Run.
type RunOptions struct {
	Port      int    // port of the NFS server (NFS and MOUNT) on 127.0.0.1; 0 mounts nothing
	Export    string // the export mounted at $NFS; default "/"
	MountOpts string // mount options appended to the defaults
	Forward   []int  // more ports of 127.0.0.1 the guest reaches at $NFS_HOST:PORT
	OutDir    string // host directory shared writable as $OUT; default a temporary one, removed

	MemoryMB int // guest memory; default 2048
	CPUs     int // guest CPUs; default 2

	Output  io.Writer    // the script's standard output and error, as it runs
	Console io.Writer    // the guest kernel's console (its tail is in Run's errors anyway)
	Log     *slog.Logger // the network chosen, boot and end; default discarded
}

// Result says how a Run went.
type Result struct {
	Network     Network
	NetworkNote string        // why NetAuto chose NetUser
	Boot        time.Duration // from starting QEMU to the script starting (mount done)
	Elapsed     time.Duration // from starting QEMU to its end
	ExitCode    int           // the script's exit status; -1 if it did not finish
}

func (r Result) String() string {
	s := fmt.Sprintf("network %s", r.Network)
	if r.NetworkNote != "" {
		s += " (" + r.NetworkNote + ")"
	}
	return s + fmt.Sprintf(", boot %s, total %s, exit %d", r.Boot.Round(100*time.Millisecond), r.Elapsed.Round(100*time.Millisecond), r.ExitCode)
}

// ExitError is Run's error when the script exited with a non-zero status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("nfsvm: the guest script exited with status %d", e.Code)
}

// Run boots the VM, mounts the export, runs script (the text of a shell
// script) in the guest and returns once the guest has powered off. ctx
// bounds the whole run: when it ends, QEMU is killed.
func (vm *VM) Run(ctx context.Context, script string, opts RunOptions) (Result, error) {
	res := Result{ExitCode: -1}
	if opts.Export == "" {
		opts.Export = "/"
	}
	if opts.MemoryMB == 0 {
		opts.MemoryMB = defaultMem
	}
	if opts.CPUs == 0 {
		opts.CPUs = defaultCPU
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ports []int
	if opts.Port != 0 {
		ports = append(ports, opts.Port)
	}
	ports = append(ports, opts.Forward...)

	xfer, err := os.MkdirTemp("", "zerofs-nfsvm-")
	if err != nil {
		return res, fmt.Errorf("nfsvm: %w", err)
	}
	defer os.RemoveAll(xfer)
	outDir := opts.OutDir
	if outDir == "" {
		outDir = filepath.Join(xfer, "out")
	}
	for _, d := range []string{outDir, filepath.Join(xfer, "out")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return res, fmt.Errorf("nfsvm: %w", err)
		}
	}
	if err := writeXfer(xfer, script, opts); err != nil {
		return res, fmt.Errorf("nfsvm: %w", err)
	}

	netdev, extra, cleanup, err := vm.network(ports, &res)
	if err != nil {
		return res, err
	}
	defer cleanup()

	console := &tailBuffer{max: 16 << 10}
	var consoleW io.Writer = console
	if opts.Console != nil {
		consoleW = io.MultiWriter(console, opts.Console)
	}
	ctl := ctlState{log: log}
	chans := []struct {
		name string
		w    io.Writer
	}{{"con", consoleW}, {"out", opts.Output}, {"ctl", &ctl}}
	var wg sync.WaitGroup
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for _, c := range chans {
		ln, err := net.Listen("unix", filepath.Join(xfer, c.name+".sock"))
		if err != nil {
			return res, fmt.Errorf("nfsvm: %w", err)
		}
		listeners = append(listeners, ln)
		wg.Add(1)
		go func(ln net.Listener, w io.Writer) {
			defer wg.Done()
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			io.Copy(w, conn)
		}(ln, c.w)
	}

	args := qemuArgs(vm, xfer, outDir, netdev, opts)
	var qemuOut tailBuffer
	qemuOut.max = 4 << 10
	cmd := exec.CommandContext(ctx, vm.qemu, args...)
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	log.Info("nfsvm: booting", "network", res.Network, "note", res.NetworkNote, "kernel", vm.Version)
	start := time.Now()
	ctl.begin(start)
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("nfsvm: starting qemu: %w", err)
	}
	for _, f := range extra {
		f.Close() // QEMU has its own copy
	}
	waitErr := cmd.Wait()
	res.Elapsed = time.Since(start)
	for _, ln := range listeners {
		ln.Close()
	}
	wg.Wait()

	ready, exit, guestErr := ctl.get()
	if !ready.IsZero() {
		res.Boot = ready.Sub(start)
	}
	res.ExitCode = exit
	log.Info("nfsvm: done", "result", res.String())
	switch {
	case guestErr != "":
		return res, fmt.Errorf("nfsvm: in the guest: %s\nconsole:\n%s", guestErr, console.String())
	case exit < 0 && ctx.Err() != nil:
		return res, fmt.Errorf("nfsvm: the script did not finish: %w (after %s)\nconsole:\n%s", ctx.Err(), res.Elapsed.Round(time.Second), console.String())
	case exit < 0:
		return res, fmt.Errorf("nfsvm: the guest stopped before the script finished (qemu: %v)\n%s\nconsole:\n%s", waitErr, qemuOut.String(), console.String())
	}
	if exit != 0 {
		return res, &ExitError{Code: exit}
	}
	return res, nil
}

// network prepares the guest's network for ports and returns QEMU's
// -netdev value, the files QEMU inherits (from fd 3) and a cleanup.
func (vm *VM) network(ports []int, res *Result) (netdev string, extra []*os.File, cleanup func(), err error) {
	mode := vm.Network
	switch mode {
	case NetAuto, NetTap:
		tap, err := newTapNet(net.ParseIP(hostAddr), ports)
		if err == nil {
			res.Network = NetTap
			return "tap,id=n0,fd=3", []*os.File{tap.tap}, func() { tap.close() }, nil
		}
		if mode == NetTap {
			return "", nil, nil, fmt.Errorf("nfsvm: tap networking: %w", err)
		}
		res.NetworkNote = "no tap networking here: " + err.Error()
	case NetUser:
	default:
		return "", nil, nil, fmt.Errorf("nfsvm: unknown network %q (tap or user)", mode)
	}
	res.Network = NetUser
	if vm.socat == "" {
		return "", nil, nil, errors.New("nfsvm: user-mode networking needs socat (Debian package socat)")
	}
	// QEMU runs the command for every guest connection, so many connections
	// work and a restarted server is reached again.
	netdev = "user,id=n0,restrict=on,net=10.0.2.0/24"
	for _, p := range ports {
		netdev += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:%s STDIO TCP:127.0.0.1:%d", hostAddr, p, qemuEscape(vm.socat), p)
	}
	return netdev, nil, func() {}, nil
}

// writeXfer writes what the guest's init and the script read from the xfer
// share.
func writeXfer(dir, script string, opts RunOptions) error {
	port := ""
	if opts.Port != 0 {
		port = strconv.Itoa(opts.Port)
	}
	mo := fmt.Sprintf("%s,port=%s,mountport=%s,addr=%s,mountaddr=%s", mountOpts, port, port, hostAddr, hostAddr)
	if opts.MountOpts != "" {
		mo += "," + opts.MountOpts
	}
	var config strings.Builder
	for _, kv := range [][2]string{
		{"GUEST_ADDR", guestAddr}, {"HOST_ADDR", hostAddr}, {"PORT", port}, {"EXPORT", opts.Export},
		{"MOUNT_OPTS", mo}, {"PRIVATE_DIRS", strings.Join(PrivateDirs(), " ")},
	} {
		fmt.Fprintf(&config, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	var env strings.Builder
	for _, kv := range append(GuestEnv(), "NFS_HOST="+hostAddr, "NFS_PORT="+port) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(v))
	}
	for name, body := range map[string]string{"config": config.String(), "env": env.String(), "script.sh": script} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// kernelCmdline is the guest kernel's command line. The emulated CPUs'
// time-stamp counters are the host's, which is invariant and synchronized
// across cores, but Linux cannot tell under QEMU's emulation: it marks the
// TSC unstable and falls back to the HPET, an emulated device whose every
// read exits to QEMU. Every clock read then costs microseconds (the network
// stack and the scheduler read the clock constantly), which made the guest
// slower and its speed vary from one boot to the next by up to 2x, as
// measured by its NFS round trip. tsc=reliable keeps the TSC; the guest
// calibrates its frequency against the emulated timers at boot, and
// TestRun checks that the guest's clock keeps the host's time.
const kernelCmdline = "console=ttyS0 quiet panic=-1 tsc=reliable clocksource=tsc"

func qemuArgs(vm *VM, xfer, outDir, netdev string, opts RunOptions) []string {
	sock := func(name string) string {
		return "socket,id=" + name + ",path=" + qemuEscape(filepath.Join(xfer, name+".sock"))
	}
	share := func(id, path, extra string) []string {
		return []string{"-fsdev", "local,id=" + id + ",path=" + qemuEscape(path) + ",security_model=none" + extra,
			"-device", "virtio-9p-pci,fsdev=" + id + ",mount_tag=" + id}
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", "tcg,thread=multi", "-m", strconv.Itoa(opts.MemoryMB), "-smp", strconv.Itoa(opts.CPUs),
		"-kernel", vm.Kernel, "-initrd", vm.Initrd, "-append", kernelCmdline,
		"-chardev", sock("con"), "-serial", "chardev:con",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,romfile=",
		"-device", "virtio-serial-pci",
		"-chardev", sock("ctl"), "-device", "virtserialport,chardev=ctl,name=ctl,nr=1",
		"-chardev", sock("out"), "-device", "virtserialport,chardev=out,name=out,nr=2",
	}
	args = append(args, share("hostroot", "/", ",readonly=on,multidevs=remap")...)
	args = append(args, share("xfer", xfer, "")...)
	args = append(args, share("out", outDir, "")...)
	return args
}

// qemuEscape doubles the commas of a value inside a QEMU option list.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ctlState records what the guest's init said on the ctl port.
type ctlState struct {
	log   *slog.Logger
	start time.Time
	mu    sync.Mutex
	buf   []byte
	ready time.Time
	exit  int
	seen  bool
	err   string
}

func (c *ctlState) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := strings.IndexByte(string(c.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(c.buf[:i]))
		c.buf = c.buf[i+1:]
		switch {
		case line == "ready":
			c.ready = time.Now()
			c.log.Info("nfsvm: the script starts", "boot", c.ready.Sub(c.start).Round(100*time.Millisecond))
		case strings.HasPrefix(line, "exit "):
			if n, err := strconv.Atoi(strings.TrimPrefix(line, "exit ")); err == nil {
				c.exit, c.seen = n, true
			}
		case strings.HasPrefix(line, "error "):
			c.err = strings.TrimPrefix(line, "error ")
		}
	}
}

// begin records when QEMU starts (the ctl port is already being read).
func (c *ctlState) begin(t time.Time) {
	c.mu.Lock()
	c.start = t
	c.mu.Unlock()
}

// get returns when the script started, its exit status (-1: none) and the
// init's error, if any.
func (c *ctlState) get() (ready time.Time, exit int, err string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exit = -1
	if c.seen {
		exit = c.exit
	}
	return c.ready, exit, c.err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ReplaceAll(string(t.b), "\r", "")
}
