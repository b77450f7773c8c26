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
	var one *config.Export
	for i := range cfg.Exports {
		if cfg.Exports[i].Name == name {
			one = &cfg.Exports[i]
		}
	}
	if one == nil {
		return nil, nil, fmt.Errorf("no export named %q in %s", name, cfg.File)
	}
	sub := *cfg
	sub.Exports = []config.Export{*one}
	log := newLogger(stderr, cfg.Server).With("command", "maintenance")
	if cfg.Server.LogLevel < slog.LevelWarn {
		log = newLogger(stderr, config.Server{LogLevel: slog.LevelWarn, LogFormat: cfg.Server.LogFormat})
	}
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
