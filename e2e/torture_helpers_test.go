package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// suiteTortureOn reports whether the long torture variants were asked for
// (ZEROFS_TORTURE=1, as `make torture` does).
func suiteTortureOn() bool { return os.Getenv("ZEROFS_TORTURE") == "1" }

// suiteSeed returns the seed of a randomized torture test: ZEROFS_TORTURE_SEED
// when set (to replay a failure), else a fresh one. The seed is logged at once
// and printed again with every failure.
func suiteSeed(t *testing.T) uint64 {
	t.Helper()
	var seed uint64
	if s := os.Getenv("ZEROFS_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ZEROFS_TORTURE_SEED=%q is not an unsigned integer: %v", s, err)
		}
		seed = v
	} else {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with ZEROFS_TORTURE_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with ZEROFS_TORTURE_SEED=%d go test ./e2e -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}

// suiteConfig describes a daemon config with more knobs than newDaemon
// offers: extra [cache] keys and extra top-level tables such as [lsm].
type suiteConfig struct {
	Server     string // more lines in [server] (e.g. metrics_listen)
	CacheDir   string // default dir/cache
	CacheExtra string // more lines in [cache]
	Global     string // more top-level TOML (e.g. "[lsm]\nmemtable_mb = 1\n")
	Exports    []exportSpec
}

// newSuiteDaemon writes dir/zerofs.toml from cfg and returns a daemon ready
// to Start (killed at cleanup).
func newSuiteDaemon(t testing.TB, dir string, cfg suiteConfig, env ...string) *daemon {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(path, []byte(suiteConfigTOML(dir, addr, cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, config: path, addr: addr, env: env}
	t.Cleanup(func() { d.Kill() })
	return d
}

// suiteConfigTOML renders cfg for a daemon under dir listening on addr (what
// newSuiteDaemon writes; a reload test writes another one for the same daemon).
func suiteConfigTOML(dir, addr string, cfg suiteConfig) string {
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(dir, "cache")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = %q\nlog_level = \"debug\"\n%s%s\n", addr, portmapperOff(cfg.Server), cfg.Server)
	fmt.Fprintf(&b, "[cache]\ndir = %q\nsize_gb = 0.5\n%s\n", cfg.CacheDir, cfg.CacheExtra)
	if cfg.Global != "" {
		b.WriteString(cfg.Global)
		b.WriteString("\n")
	}
	for _, e := range cfg.Exports {
		b.WriteString(e.toml())
	}
	return b.String()
}

// suiteFsck runs `zerofsd fsck` on each export of d's config and fails the
// test when one is not clean. It returns fsck's summary lines.
func suiteFsck(t testing.TB, d *daemon, names ...string) []string {
	t.Helper()
	var summaries []string
	for _, name := range names {
		cmd := exec.CommandContext(stepContext(t), zerofsdBinary, "fsck", "-c", d.config, "--export", name)
		cmd.Env = append(os.Environ(), d.env...) // the daemon's own settings (AWS_* ...)
		outb, err := cmd.CombinedOutput()
		out := string(outb)
		if err != nil {
			t.Fatalf("fsck of export %s: %v\n%s", name, err, out)
		}
		summaries = append(summaries, strings.TrimSpace(suiteFirstLine(out)))
	}
	return summaries
}

func suiteFirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// suiteMount is one connection of our own NFS client, mounted on an export.
type suiteMount struct {
	c    *nfsclient.Client
	root []byte
}

// suiteDial connects to addr and mounts path, as root (uid 0).
func suiteDial(ctx context.Context, addr, path string) (*suiteMount, error) {
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	root, _, err := c.Mount(ctx, path)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("mounting %s on %s: %w", path, addr, err)
	}
	return &suiteMount{c: c, root: root}, nil
}

func suiteMustDial(t testing.TB, addr, path string) *suiteMount {
	t.Helper()
	m, err := suiteDial(stepContext(t), addr, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.c.Close() })
	return m
}

// suiteStatus returns the NFS status of err, or 0 when it is not a status error.
func suiteStatus(err error) uint32 {
	var se *nfsclient.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// suiteReadAll reads a whole file through handle fh.
func suiteReadAll(ctx context.Context, c *nfsclient.Client, fh []byte) ([]byte, error) {
	attr, err := c.Getattr(ctx, fh)
	if err != nil {
		return nil, fmt.Errorf("GETATTR: %w", err)
	}
	out := make([]byte, 0, attr.Size)
	for off := uint64(0); ; {
		r, err := c.Read(ctx, fh, off, 256<<10)
		if err != nil {
			return nil, fmt.Errorf("READ at %d: %w", off, err)
		}
		out = append(out, r.Data...)
		off += uint64(len(r.Data))
		if r.EOF || len(r.Data) == 0 {
			break
		}
	}
	if uint64(len(out)) != attr.Size {
		return out, fmt.Errorf("read %d bytes, GETATTR size %d", len(out), attr.Size)
	}
	return out, nil
}

// suiteWriteAll writes data at offset 0 in pieces with the given stable level.
func suiteWriteAll(ctx context.Context, c *nfsclient.Client, fh []byte, off uint64, data []byte, stable uint32) error {
	for len(data) > 0 {
		n := min(len(data), 128<<10)
		r, err := c.Write(ctx, fh, off, data[:n], stable)
		if err != nil {
			return fmt.Errorf("WRITE at %d: %w", off, err)
		}
		if r.Count == 0 {
			return fmt.Errorf("WRITE at %d wrote nothing", off)
		}
		off += uint64(r.Count)
		data = data[r.Count:]
	}
	return nil
}

// suiteCreate creates (or truncates) name in dir and returns its handle.
func suiteCreate(ctx context.Context, c *nfsclient.Client, dir []byte, name string) ([]byte, error) {
	res, err := c.Create(ctx, dir, name, 0, nfsclient.Sattr{Mode: nfsclient.U32(0o644), Size: nfsclient.U64(0)}, [8]byte{})
	if err != nil {
		return nil, fmt.Errorf("CREATE %s: %w", name, err)
	}
	if len(res.FH) == 0 {
		fh, _, err := c.Lookup(ctx, dir, name)
		if err != nil {
			return nil, fmt.Errorf("LOOKUP %s after CREATE: %w", name, err)
		}
		return fh, nil
	}
	return res.FH, nil
}

// suiteRandomBytes returns n bytes from rng.
func suiteRandomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func suiteSum(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s[:8])
}
