package nfsvm

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// DefaultCache is where Setup keeps boot images unless told otherwise.
const DefaultCache = "/var/cache/zerofs-nfsvm"

// imageFormat names the image this code builds: change it with the code
// that builds it. It, init.sh and the input files name the image, so a
// change to any of them makes Setup build a new one.
const imageFormat = "zerofs-nfsvm 2"

//go:embed init.sh
var initScript []byte

// SetupOptions are the knobs of Setup.
type SetupOptions struct {
	Cache   string       // directory of boot images; default DefaultCache
	Install bool         // install missing host packages with apt-get (root, or sudo)
	Log     *slog.Logger // progress; default discarded
}

// VM is a built boot image, ready to Run.
type VM struct {
	Kernel  string // the guest kernel: /boot/vmlinuz-VERSION, unpacked when it can boot by PVH
	Initrd  string // the initramfs
	Version string // the guest kernel's version (of /boot/vmlinuz-VERSION)

	// Network is the network of every Run: NetAuto (tap where a namespace
	// can be made, else user), NetTap or NetUser.
	Network Network

	qemu  string // qemu-system-x86_64
	socat string // socat, for NetUser; "" when missing
}

// requirement is one thing the harness needs on the host and the Debian
// package that provides it.
// Optional ones make something better, not possible.
type requirement struct {
	what     string
	pkg      string
	optional bool
	present  func() bool
}

var requirements = []requirement{
	{"qemu-system-x86_64", "qemu-system-x86", false, func() bool { return onPath("qemu-system-x86_64") }},
	{"a static busybox", "busybox-static", false, func() bool { _, err := staticBusybox(); return err == nil }},
	{"a kernel in /boot with its modules", "linux-image-amd64", false, func() bool { _, err := findKernel("/"); return err == nil }},
	{"mount.nfs (the guest mounts with this host's tools)", "nfs-common", false, func() bool { return onPath("mount.nfs") || fileExists("/sbin/mount.nfs") }},
	{"socat (for user-mode networking)", "socat", true, func() bool { return onPath("socat") }},
	{"xz (to unpack the kernel, which then boots faster)", "xz-utils", true, func() bool { return onPath("xz") }},
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Setup makes sure the host has what the harness needs (installing it with
// opts.Install, else reporting what is missing) and builds the boot image
// for the newest kernel in /boot unless an image of the same inputs is
// already in the cache. It is quick when nothing changed.
func Setup(ctx context.Context, opts SetupOptions) (*VM, error) {
	if opts.Cache == "" {
		opts.Cache = DefaultCache
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var missing []requirement
	for _, r := range requirements {
		if !r.present() {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 && opts.Install {
		pkgs := make([]string, len(missing))
		for i, r := range missing {
			pkgs[i] = r.pkg
		}
		log.Info("installing", "packages", pkgs)
		if err := aptInstall(ctx, pkgs); err != nil {
			return nil, err
		}
		missing = missing[:0]
		for _, r := range requirements {
			if !r.present() {
				missing = append(missing, r)
			}
		}
	}
	for _, r := range missing {
		if !r.optional {
			return nil, fmt.Errorf("nfsvm: missing %s (Debian package %s; `go run ./internal/nfsvm/cmd/nfsvm setup` installs it)", r.what, r.pkg)
		}
	}
	vm, err := build(ctx, opts.Cache, log, opts.Install)
	if err != nil {
		return nil, err
	}
	if vm.qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, fmt.Errorf("nfsvm: %w", err)
	}
	vm.socat, _ = exec.LookPath("socat")
	return vm, nil
}

// aptInstall installs Debian packages, through sudo when not root.
func aptInstall(ctx context.Context, pkgs []string) error {
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo"}
	}
	run := func(args ...string) error {
		args = append(prefix, args...)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nfsvm: %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return run(append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
}

// staticBusybox finds a statically linked busybox (the initramfs has no
// libraries).
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox in /bin or /usr/bin")
}

// findKernel returns the newest kernel version under root that has both
// boot/vmlinuz-V and lib/modules/V/modules.dep.
func findKernel(root string) (string, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	best := ""
	for _, img := range images {
		v := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		if !fileExists(filepath.Join(root, "lib", "modules", v, "modules.dep")) {
			continue
		}
		if best == "" || versionLess(best, v) {
			best = v
		}
	}
	if best == "" {
		return "", fmt.Errorf("no kernel in %s with its modules in %s", filepath.Join(root, "boot"), filepath.Join(root, "lib", "modules"))
	}
	return best, nil
}

// versionLess orders kernel versions numerically field by field:
// 6.1.0-9 < 6.1.0-57 < 6.10.0-1.
func versionLess(a, b string) bool {
	fa, fb := versionFields(a), versionFields(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, errA := strconv.Atoi(fa[i])
		nb, errB := strconv.Atoi(fb[i])
		switch {
		case errA == nil && errB == nil && na != nb:
			return na < nb
		case (errA != nil || errB != nil) && fa[i] != fb[i]:
			return fa[i] < fb[i]
		}
	}
	return len(fa) < len(fb)
}

// versionFields splits a version into runs of digits and runs of other
// letters, dropping separators.
func versionFields(v string) []string {
	var out []string
	cur, digits := "", false
	for _, r := range v {
		switch {
		case unicode.IsDigit(r):
			if !digits && cur != "" {
				out, cur = append(out, cur), ""
			}
			digits = true
			cur += string(r)
		case unicode.IsLetter(r):
			if digits && cur != "" {
				out, cur = append(out, cur), ""
			}
			digits = false
			cur += string(r)
		default:
			if cur != "" {
				out, cur = append(out, cur), ""
			}
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// imageInputs are the host files an image is made of.
type imageInputs struct {
	version string
	vmlinuz string
	busybox string
	modules []string // absolute paths, in load order
}

func gatherInputs() (imageInputs, error) {
	v, err := findKernel("/")
	if err != nil {
		return imageInputs{}, err
	}
	bb, err := staticBusybox()
	if err != nil {
		return imageInputs{}, err
	}
	modDir := filepath.Join("/lib/modules", v)
	depFile, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return imageInputs{}, err
	}
	deps, err := parseModulesDep(depFile)
	depFile.Close()
	if err != nil {
		return imageInputs{}, err
	}
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(modDir, "modules.builtin")); err == nil {
		builtin, err = parseBuiltin(f)
		f.Close()
		if err != nil {
			return imageInputs{}, err
		}
	}
	order, err := loadOrder(deps, builtin, guestModules)
	if err != nil {
		return imageInputs{}, fmt.Errorf("kernel %s: %w", v, err)
	}
	in := imageInputs{version: v, vmlinuz: filepath.Join("/boot", "vmlinuz-"+v), busybox: bb}
	for _, m := range order {
		in.modules = append(in.modules, filepath.Join(modDir, m))
	}
	return in, nil
}

// key names an image by everything it is made of: the format, the init
// script, and the name, size and time of every input file.
func (in imageInputs) key() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", imageFormat, in.version)
	h.Write(initScript)
	for _, p := range append([]string{in.vmlinuz, in.busybox}, in.modules...) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// build returns the image of the current inputs, building it if the cache
// does not have it. With prune it removes the cache's other images.
func build(ctx context.Context, cache string, log *slog.Logger, prune bool) (*VM, error) {
	in, err := gatherInputs()
	if err != nil {
		return nil, fmt.Errorf("nfsvm: %w", err)
	}
	key, err := in.key()
	if err != nil {
		return nil, fmt.Errorf("nfsvm: %w", err)
	}
	dir := filepath.Join(cache, "image-"+key)
	vm := &VM{Kernel: filepath.Join(dir, "kernel"), Initrd: filepath.Join(dir, "initramfs.gz"), Version: in.version}
	if !fileExists(vm.Kernel) || !fileExists(vm.Initrd) {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return nil, fmt.Errorf("nfsvm: boot image cache (set ZEROFS_NFSVM_CACHE to use another): %w", err)
		}
		tmp, err := os.MkdirTemp(cache, ".build-")
		if err != nil {
			return nil, fmt.Errorf("nfsvm: %w", err)
		}
		defer os.RemoveAll(tmp)
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, fmt.Errorf("nfsvm: %w", err)
		}
		if err := writeImage(ctx, tmp, in); err != nil {
			return nil, fmt.Errorf("nfsvm: building the boot image: %w", err)
		}
		if err := os.Rename(tmp, dir); err != nil && !fileExists(vm.Initrd) {
			return nil, fmt.Errorf("nfsvm: %w", err)
		}
		log.Info("boot image built", "kernel", in.version, "dir", dir)
	}
	if prune {
		old, _ := filepath.Glob(filepath.Join(cache, "image-*"))
		for _, o := range old {
			if o != dir {
				os.RemoveAll(o)
			}
		}
	}
	return vm, nil
}

// writeImage writes kernel and initramfs.gz into dir.
func writeImage(ctx context.Context, dir string, in imageInputs) error {
	kernel, err := os.ReadFile(in.vmlinuz)
	if err != nil {
		return err
	}
	// An uncompressed kernel with a PVH entry point boots several seconds
	// sooner under emulation (no decompression, no real-mode setup); a
	// kernel that has none, or cannot be unpacked here, boots as it is.
	if elfKernel, err := pvhKernel(ctx, kernel); err == nil {
		kernel = elfKernel
	}
	if err := os.WriteFile(filepath.Join(dir, "kernel"), kernel, 0o644); err != nil {
		return err
	}
	bb, err := os.ReadFile(in.busybox)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	c := &cpioWriter{w: gz}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "newroot", "modules"} {
		c.Dir(d, 0o755)
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	c.File("bin/busybox", 0o755, bb)
	c.Symlink("bin/sh", "busybox")
	c.File("init", 0o755, initScript)
	var names []string
	for _, m := range in.modules {
		data, err := readModule(ctx, m)
		if err != nil {
			return err
		}
		name := moduleName(m)
		names = append(names, name)
		c.File("modules/"+name+".ko", 0o644, data)
	}
	c.File("modules/order", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	if err := c.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "initramfs.gz"), buf.Bytes(), 0o644)
}

// readModule reads a kernel module, uncompressed (busybox insmod takes
// plain .ko files; distributions compress them with xz or zstd).
func readModule(ctx context.Context, p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		return os.ReadFile(p)
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(p, ".ko.gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return io.ReadAll(zr)
	default:
		return nil, fmt.Errorf("%s: unknown kernel module format", p)
	}
	out, err := exec.CommandContext(ctx, tool, "-dc", p).Output()
	if err != nil {
		return nil, fmt.Errorf("%s -dc %s: %w", tool, p, err)
	}
	return out, nil
}
