package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
)

// openOneExport opens a single export of cfg as its writer, for maintenance
// commands. Only one writer can serve an export: run these while the daemon
// is stopped, or they fence it. The returned function flushes and closes.
func openOneExport(ctx context.Context, cfg *config.Config, name string, stderr io.Writer) (*exports.Registry, func(), error) {
	one, err := findExport(cfg, name)
	if err != nil {
		return nil, nil, err
	}
	sub := *cfg
	sub.Exports = []config.Export{one}
	log := maintenanceLogger(cfg, stderr)
	reg, err := exports.Open(ctx, &sub, exports.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return reg, func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := reg.Close(cctx); err != nil {
			log.Error("closing export", "export", name, "err", err)
		}
	}, nil
}

// findExport returns the export of cfg with this name.
func findExport(cfg *config.Config, name string) (config.Export, error) {
	for _, e := range cfg.Exports {
		if e.Name == name {
			return e, nil
		}
	}
	return config.Export{}, fmt.Errorf("no export named %q in %s", name, cfg.File)
}

// maintenanceLogger logs warnings and errors only, so that a command's own
// output stays readable.
func maintenanceLogger(cfg *config.Config, stderr io.Writer) *slog.Logger {
	level := cfg.Server.LogLevel
	if level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	return newLogger(stderr, config.Server{LogLevel: level, LogFormat: cfg.Server.LogFormat})
}
