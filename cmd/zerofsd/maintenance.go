package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
)

// openReadOnlyExport opens the export named by --export of the config at
// path read-only (at the checkpoint, or at the latest durable state for
// ""), for the maintenance commands: it never becomes the export's writer,
// so a running daemon keeps serving.
func openReadOnlyExport(ctx context.Context, path, name, checkpoint string, stderr io.Writer) (*exports.ReadOnlyFS, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: --export is required", errUsage)
	}
	cfg, ec, err := loadExportConfig(path, name)
	if err != nil {
		return nil, err
	}
	return exports.OpenReadOnly(ctx, ec, checkpoint, maintenanceLogger(cfg, stderr))
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
