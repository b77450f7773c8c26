package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
)

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
