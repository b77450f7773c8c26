package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/metrics"
	"github.com/zerofs-go/zerofsd/nfs"
)

// closeGrace is how long past server.shutdown_timeout a shutdown waits for
// the exports to close before giving up on them.
const closeGrace = 5 * time.Second

// runServe is `zerofsd run`: open every export, serve NFS and MOUNT on one
// listener, reload on SIGHUP (one received while starting is applied once
// serving starts), and on SIGTERM/SIGINT shut down within
// server.shutdown_timeout, as the last reload applied set it (see
// shutdown): exit 0 when everything was flushed, 1 otherwise.
func runServe(ctx context.Context, args []string, _ io.Writer, stderr io.Writer) error {
	fs, path := newFlags("run", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	// SIGHUP is caught from now on: one that arrives while the exports open
	// must not kill the daemon (its default action); it is applied once
	// serving starts. SIGTERM and SIGINT are caught by main from the start.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := loadServingConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Server)
	log.Info("zerofsd starting", "version", version, "config", cfg.File, "exports", len(cfg.Exports))
	logMemoryBounds(log, cfg)
	// Until READY=1 (or an error ends the start), systemd is told the
	// start goes on.
	stopExtending := extendStartTimeout(log, startExtendEvery, startExtension, fmt.Sprintf("opening %d export(s)", len(cfg.Exports)))
	defer stopExtending()

	disk, err := cache.OpenDisk(cfg.Cache.Dir, cfg.Cache.SizeBytes(), log.With("component", "cache"))
	if err != nil {
		return fmt.Errorf("opening the disk cache %s: %w", cfg.Cache.Dir, err)
	}
	defer disk.Close()

	mets := metrics.New()
	reg, err := exports.Open(ctx, cfg, exports.Options{DiskCache: disk, Logger: log, StoreLatency: mets.StoreLatency})
	if err != nil {
		return err
	}
	closeExports := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		if err := reg.Close(cctx); err != nil {
			log.Error("closing exports", "err", err)
			return err
		}
		log.Info("every export flushed and closed")
		return nil
	}

	srv, err := nfs.NewServer(nfs.ServerOptions{
		Exports:            reg,
		Observer:           mets,
		Logger:             log.With("component", "nfs"),
		MaxConnections:     cfg.Server.MaxConnections,
		MaxInFlightPerConn: cfg.Server.MaxRequestsPerConn,
	})
	if err != nil {
		_ = closeExports()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		_ = closeExports()
		return fmt.Errorf("listening on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	stopPortmapper, err := startPortmapper(ctx, cfg.Server, ln.Addr(), log)
	if err != nil {
		ln.Close()
		_ = closeExports()
		return err
	}
	defer stopPortmapper()

	mets.SetSources(metrics.Sources{Exports: reg, Disk: disk, Server: srv})
	var metricsSrv *metrics.Server
	if cfg.Server.MetricsListen != "" {
		metricsSrv, err = metrics.Serve(cfg.Server.MetricsListen, mets, log)
		if err != nil {
			ln.Close()
			_ = closeExports()
			return err
		}
	}

	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "nfs", "v3", "mount", "v3")
	stopExtending()
	notifySystemd(log, "READY=1\nSTATUS=serving")

	// A reload may change server.shutdown_timeout: the shutdown uses the
	// value of the last reload applied.
	shutdownTimeout := cfg.Server.ShutdownTimeout
	inForce := cfg // the config of the last reload applied
	applyReload := func() {
		next := reload(ctx, *path, reg, cfg, log)
		if next == nil {
			return
		}
		shutdownTimeout = next.Server.ShutdownTimeout
		for _, name := range removedExports(inForce, next) {
			mets.ForgetExport(name)
		}
		inForce = next
	}
	if ctx.Err() == nil {
		select {
		case <-hup:
			log.Info("SIGHUP received while starting: reloading the config now that serving has started")
			applyReload()
		default:
		}
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-served:
			serveErr = fmt.Errorf("nfs server stopped: %w", err)
			log.Error("nfs server stopped", "err", err)
			break loop
		case <-hup:
			applyReload()
		}
	}
	notifySystemd(log, "STOPPING=1")
	err = shutdown(srv, reg, shutdownTimeout, log, func() {
		stopServing()
		if metricsSrv != nil {
			metricsSrv.Close()
		}
	})
	return errors.Join(serveErr, err)
}

// shutdown stops serving and flushes every export, within timeout (plus
// closeGrace if something ignores its deadline). New connections and calls
// are refused at once; the calls in flight get three quarters of timeout
// to finish, then they are canceled unanswered; the rest of timeout goes
// to flushing the exports. stopped runs between the two. Whatever went
// wrong is logged at ERROR and returned.
func shutdown(srv *nfs.Server, reg *exports.Registry, timeout time.Duration, log *slog.Logger, stopped func()) error {
	deadline := time.Now().Add(timeout)
	log.Info("shutting down: finishing the requests in flight, then flushing every export", "timeout", timeout)
	var errs []error
	dctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-timeout/4))
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Error("shutdown: requests still in flight were canceled; nothing they changed was acknowledged", "err", err)
		errs = append(errs, err)
	}
	stopped()
	fctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- reg.Close(fctx) }()
	select {
	case err := <-closed:
		if err != nil {
			log.Error("shutdown incomplete: not every export was flushed (see above); only changes never acknowledged as durable are lost", "err", err)
			errs = append(errs, err)
		} else {
			log.Info("every export flushed and closed")
		}
	case <-time.After(time.Until(deadline) + closeGrace):
		err := fmt.Errorf("the exports did not close within %v of the shutdown timeout (%v)", closeGrace, timeout)
		log.Error("shutdown incomplete: giving up on the exports; only changes never acknowledged as durable are lost", "err", err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// reload re-reads the config and applies it, returning it; a bad config, or
// one whose exports cannot all open, is refused (nil) and the running
// exports keep serving. A key of started (the config the daemon started
// with) that only a restart changes is logged at WARN when the new config
// changes it.
func reload(ctx context.Context, path string, reg *exports.Registry, started *config.Config, log *slog.Logger) *config.Config {
	notifySystemd(log, "RELOADING=1")
	defer notifySystemd(log, "READY=1\nSTATUS=serving")
	cfg, err := loadServingConfig(path)
	if err != nil {
		log.Error("reload refused: the new config is invalid; still serving the old one", "err", err)
		return nil
	}
	err = reg.Reload(ctx, cfg)
	if errors.Is(err, exports.ErrReloadRefused) {
		log.Error("reload failed; still serving the old exports", "err", err)
		return nil
	}
	// Applied. An error now is from closing what the new config dropped;
	// the registry has logged it for each store.
	log.Info("config reloaded", "exports", len(cfg.Exports))
	warnRestartOnly(log, started, cfg)
	logMemoryBounds(log, cfg)
	if err != nil {
		log.Error("config reloaded, but closing an export it no longer serves failed", "err", err)
	}
	return cfg
}

// startOnlyKey is a key read once, at start: a reload does not change it.
type startOnlyKey struct {
	key   string
	value func(*config.Config) any
}

// startOnlyKeys are the keys a reload does not change: every [server] key
// but shutdown_timeout (the listeners, the logger and the server's bounds
// are made at start), and the disk cache's directory and size.
func startOnlyKeys() []startOnlyKey {
	return []startOnlyKey{
		{"server.listen", func(c *config.Config) any { return c.Server.Listen }},
		{"server.log_level", func(c *config.Config) any { return c.Server.LogLevel.String() }},
		{"server.log_format", func(c *config.Config) any { return string(c.Server.LogFormat) }},
		{"server.metrics_listen", func(c *config.Config) any { return c.Server.MetricsListen }},
		{"server.max_connections", func(c *config.Config) any { return c.Server.MaxConnections }},
		{"server.max_requests_per_conn", func(c *config.Config) any { return c.Server.MaxRequestsPerConn }},
		{"server.portmapper", func(c *config.Config) any { return string(c.Server.Portmapper) }},
		{"server.portmapper_listen", func(c *config.Config) any { return c.Server.PortmapperListen }},
		{"cache.dir", func(c *config.Config) any { return c.Cache.Dir }},
		{"cache.size_gb", func(c *config.Config) any { return c.Cache.SizeGB }},
	}
}

// warnRestartOnly logs at WARN each key that next changes from started
// (what is in use) but only a restart applies.
func warnRestartOnly(log *slog.Logger, started, next *config.Config) {
	for _, k := range startOnlyKeys() {
		if inUse, configured := k.value(started), k.value(next); inUse != configured {
			log.Warn("config key changed, but only a restart applies it; the value in use stays until then",
				"key", k.key, "in_use", inUse, "configured", configured)
		}
	}
}

// removedExports are the names of the exports of prev that next no longer
// has (removed, or renamed).
func removedExports(prev, next *config.Config) []string {
	kept := make(map[string]bool, len(next.Exports))
	for _, e := range next.Exports {
		kept[e.Name] = true
	}
	var gone []string
	for _, e := range prev.Exports {
		if !kept[e.Name] {
			gone = append(gone, e.Name)
		}
	}
	return gone
}

// logMemoryBounds logs what the configuration lets the exports' caches and
// write buffers hold, and the Go runtime's soft memory limit (GOMEMLIMIT):
// the first things to look at when the daemon uses more memory than
// planned (docs/config.md, Memory).
func logMemoryBounds(log *slog.Logger, cfg *config.Config) {
	limit := "none"
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		limit = fmt.Sprintf("%d MiB", l>>20)
	}
	log.Info("memory bounds", "caches_and_write_buffers_mib", cfg.MemoryBoundMB(), "gomemlimit", limit)
}
