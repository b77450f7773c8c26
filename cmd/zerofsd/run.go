package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/metrics"
	"github.com/zerofs-go/zerofsd/nfs"
)

// runServe is `zerofsd run`: open every export, serve NFS and MOUNT on one
// listener, reload on SIGHUP, flush everything and exit 0 on SIGTERM/SIGINT.
func runServe(ctx context.Context, args []string, _ io.Writer, stderr io.Writer) error {
	fs, path := newFlags("run", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Server)
	log.Info("zerofsd starting", "version", version, "config", cfg.File, "exports", len(cfg.Exports))

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
	for _, e := range reg.All() {
		log.Info("serving export", "export", e.Name, "path", e.Path, "read_only", e.ReadOnly)
	}

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
	notifySystemd(log, "READY=1\nSTATUS=serving")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: flushing every export")
			break loop
		case err := <-served:
			serveErr = fmt.Errorf("nfs server stopped: %w", err)
			log.Error("nfs server stopped", "err", err)
			break loop
		case <-hup:
			reload(ctx, *path, reg, log)
		}
	}
	notifySystemd(log, "STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("nfs server shutdown", "err", err)
	}
	stopServing()
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	if err := closeExports(); err != nil {
		return errors.Join(serveErr, err)
	}
	return serveErr
}

// reload re-reads the config and applies it; a bad config is refused and the
// running exports keep serving.
func reload(ctx context.Context, path string, reg *exports.Registry, log *slog.Logger) {
	notifySystemd(log, "RELOADING=1")
	defer notifySystemd(log, "READY=1\nSTATUS=serving")
	cfg, err := loadConfig(path)
	if err != nil {
		log.Error("reload refused: the new config is invalid; still serving the old one", "err", err)
		return
	}
	if err := reg.Reload(ctx, cfg); err != nil {
		log.Error("reload failed; still serving the old exports", "err", err)
		return
	}
	log.Info("config reloaded", "exports", len(cfg.Exports))
}
