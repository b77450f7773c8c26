package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Target is one file system the workloads run on.
type Target struct {
	Name  string
	Title string // what it is, for the report
	// For zerofsd targets: the store ("file" or "s3") and the export's
	// settings; Durability "" leaves the key out (the default, bucket).
	Store      string
	Sync       string
	Durability string
	// Encrypted turns on encryption = true, with a random key file written
	// beside the config.
	Encrypted bool
	// S3 says the target keeps its data in a bucket behind the latency
	// proxy, named after the target's instance (instanceName: the target's
	// name in the first round).
	S3 bool
}

// Zerofs tells a target served by zerofsd.
func (t Target) Zerofs() bool { return t.Store != "" }

// allTargets lists every target in the order they run and appear.
var allTargets = []Target{
	{Name: "tmp", Title: "the guest's own tmpfs: the limit"},
	{Name: "zerofs-local", Title: "zerofsd on a local-directory store (`sync = \"commit\"`)", Store: "file", Sync: "commit"},
	{Name: "zerofs-local-strict", Title: "the same with `sync = \"strict\"`: every metadata change durable (a WAL object written and fsynced in the directory) before its reply", Store: "file", Sync: "strict"},
	{Name: "zerofs-s3", Title: "zerofsd on S3, `durability` bucket (the default) and `sync = \"commit\"`", Store: "s3", Sync: "commit", S3: true},
	{Name: "zerofs-s3-strict", Title: "the same with `sync = \"strict\"`: every metadata change durable in the bucket before its reply", Store: "s3", Sync: "strict", S3: true},
	{Name: "zerofs-s3-local", Title: "zerofsd on S3 with `durability = \"local\"` (a local journal, fsynced, shipped to the bucket in the background) and `sync = \"strict\"`", Store: "s3", Sync: "strict", Durability: "local", S3: true},
	{Name: "zerofs-s3-local-commit", Title: "the same with `sync = \"commit\"`: metadata changes acknowledged before the journal's fsync, as zerofs-local does", Store: "s3", Sync: "commit", Durability: "local", S3: true},
	{Name: "zerofs-s3-local-enc", Title: "zerofs-s3-local with `encryption = true` (a key file): every object, and the local journal, sealed with AES-256-GCM (compare with zerofs-s3-local for the cost of encryption)", Store: "s3", Sync: "strict", Durability: "local", S3: true, Encrypted: true},
	{Name: "go-nfs", Title: "github.com/willscott/go-nfs v0.0.4 serving a plain local directory (`bench/gonfsref`: the cost of a straightforward NFS layer with no storage engine behind it, through the same guest and relays)"},
	{Name: "s3fs", Title: "s3fs-fuse in the guest, on S3", S3: true},
	{Name: "rclone", Title: "`rclone mount --vfs-cache-mode writes` in the guest, on S3 (it uploads after close, in the background, so its write times do not include the upload)", S3: true},
}

func targetNames() []string {
	names := make([]string, len(allTargets))
	for i, t := range allTargets {
		names[i] = t.Name
	}
	return names
}

func targetByName(name string) (Target, bool) {
	for _, t := range allTargets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// exportName is the name and (with a slash) the path of the one export of
// each zerofsd target's daemon.
const exportName = "bench"

// The directories of one zerofsd target's instance (instanceName) in the
// run directory.
func cacheDir(runDir, instance string) string   { return filepath.Join(runDir, "cache-"+instance) }
func journalDir(runDir, instance string) string { return filepath.Join(runDir, "journal-"+instance) }
func storeDir(runDir, instance string) string   { return filepath.Join(runDir, "store-"+instance) }

// zerofsdConfig is the configuration of the daemon of one instance
// (instanceName) of a zerofsd target: its cache, journal, local store or
// bucket, and key file are the instance's own.
func zerofsdConfig(t Target, instance string, nfsPort, metricsPort int, runDir, s3Endpoint string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"127.0.0.1:%d\"\nmetrics_listen = \"127.0.0.1:%d\"\nlog_level = \"warn\"\nportmapper = \"off\"\n\n", nfsPort, metricsPort)
	fmt.Fprintf(&b, "[cache]\ndir = %q\nsize_gb = 4\n", cacheDir(runDir, instance))
	if t.Durability == "local" {
		// Out of the cache directory, which a cold restart empties.
		fmt.Fprintf(&b, "journal_dir = %q\n", journalDir(runDir, instance))
	}
	fmt.Fprintf(&b, "\n[[exports]]\nname = %q\npath = \"/%s\"\nsquash = \"none\"\nsync = %q\n", exportName, exportName, t.Sync)
	if t.Durability != "" {
		fmt.Fprintf(&b, "durability = %q\n", t.Durability)
	}
	if t.Encrypted {
		fmt.Fprintf(&b, "encryption = true\nkey_file = %q\n", keyFile(runDir, instance))
	}
	switch t.Store {
	case "memory":
		b.WriteString("store = \"memory://\"\n")
	case "file":
		fmt.Fprintf(&b, "store = \"file://%s\"\n", storeDir(runDir, instance))
	case "s3":
		fmt.Fprintf(&b, "store = \"s3://%s/fs\"\n[exports.s3]\nendpoint = %q\nallow_http = true\naccess_key_id = \"test\"\nsecret_access_key = \"testsecret\"\n",
			instance, s3Endpoint)
	}
	return b.String()
}

// keyFile is where the key file of an encrypted target's instance is.
func keyFile(runDir, instance string) string { return filepath.Join(runDir, instance+".key") }

// writeKeyFile writes a random 32-byte key, in hexadecimal, to the key file
// of an encrypted target's instance, unless one is there already (the store
// it locks may be there too).
func writeKeyFile(runDir, instance string) error {
	path := keyFile(runDir, instance)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("drawing the key of %s: %w", instance, err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the key file of %s: %w", instance, err)
	}
	return nil
}

// daemon is the zerofsd of one target's instance (instanceName), restartable.
type daemon struct {
	target               Target
	binary, config, logf string
	cacheDir             string
	nfsPort, metricsPort int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// newDaemon writes the config of the target's instance and has zerofsd
// check it, so that a config this zerofsd does not take (a key not there
// yet) fails at once, before any guest boots, with zerofsd's own message.
func newDaemon(ctx context.Context, work string, t Target, instance, s3Endpoint string) (*daemon, error) {
	run := filepath.Join(work, "run")
	d := &daemon{target: t, binary: filepath.Join(work, "zerofsd"), config: filepath.Join(run, instance+".toml"),
		logf: filepath.Join(run, "zerofsd-"+instance+".log"), cacheDir: cacheDir(run, instance)}
	var err error
	if d.nfsPort, err = freePort(); err != nil {
		return nil, err
	}
	if d.metricsPort, err = freePort(); err != nil {
		return nil, err
	}
	if t.Encrypted {
		if err := writeKeyFile(run, instance); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(d.config, []byte(zerofsdConfig(t, instance, d.nfsPort, d.metricsPort, run, s3Endpoint)), 0o600); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, d.binary, "check-config", "-q", "-c", d.config).CombinedOutput()
	if err != nil {
		why := ""
		if t.Durability != "" && strings.Contains(string(out), "durability: unknown key") {
			why = fmt.Sprintf("this zerofsd has no durability key yet, so it cannot run durability = %q; ", t.Durability)
		}
		return nil, fmt.Errorf("%szerofsd refuses the config of %s (%s): %w: %s", why, t.Name, d.config, err, strings.TrimSpace(string(out)))
	}
	return d, nil
}

// start starts zerofsd and waits until it serves NFS and metrics.
func (d *daemon) start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	logf, err := os.OpenFile(d.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.binary, "run", "-c", d.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting zerofsd for %s: %w", d.target.Name, err)
	}
	d.cmd = cmd
	for _, port := range []int{d.nfsPort, d.metricsPort} {
		if err := waitListening(ctx, port); err != nil {
			return fmt.Errorf("zerofsd for %s: %w (log %s)", d.target.Name, err, d.logf)
		}
	}
	return nil
}

// stop asks zerofsd to shut down (SIGINT: it flushes every export) and
// waits; an exit status other than 0 is an error (something was not made
// durable).
func (d *daemon) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return nil
	}
	err := stopProcess(d.cmd)
	d.cmd = nil
	if err != nil {
		return fmt.Errorf("zerofsd for %s did not stop cleanly: %w (log %s)", d.target.Name, err, d.logf)
	}
	return nil
}

// restartCold stops zerofsd cleanly, empties its disk cache and starts it
// again: the next reads find nothing in memory or on the local disk and go
// to the store (the local journal, outside the cache directory, stays).
func (d *daemon) restartCold(ctx context.Context) error {
	if err := d.stop(); err != nil {
		return err
	}
	if err := os.RemoveAll(d.cacheDir); err != nil {
		return fmt.Errorf("emptying the cache of %s: %w", d.target.Name, err)
	}
	return d.start(ctx)
}

// control is the host's HTTP service for the guest (its port is forwarded):
// the latency proxy's counters, and cold restarts of the current zerofsd.
type control struct {
	log     *slog.Logger
	metrics http.HandlerFunc

	mu      sync.Mutex
	current *daemon // the zerofsd of the target running now, if any
}

func (c *control) setCurrent(d *daemon) {
	c.mu.Lock()
	c.current = d
	c.mu.Unlock()
}

func (c *control) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /s3metrics", c.metrics)
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		d := c.current
		c.mu.Unlock()
		if d == nil || d.target.Name != r.URL.Query().Get("target") {
			http.Error(w, "no zerofsd runs for target "+r.URL.Query().Get("target"), http.StatusConflict)
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		defer cancel()
		if err := d.restartCold(ctx); err != nil {
			c.log.Error("cold restart failed", "target", d.target.Name, "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c.log.Info("cold restart", "target", d.target.Name, "took", time.Since(start).Round(time.Millisecond))
		fmt.Fprintf(w, "restarted in %v\n", time.Since(start).Round(time.Millisecond))
	})
	return mux
}
