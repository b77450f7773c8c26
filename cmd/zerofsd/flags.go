package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/zerofs-go/zerofsd/config"
)

// defaultConfigPath is where `make install` puts the config.
const defaultConfigPath = "/etc/zerofs/zerofs.toml"

// newFlags returns a flag set with the -c/--config flag every command takes.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", defaultConfigPath, "config file `path`")
	fs.StringVar(path, "config", defaultConfigPath, "config file `path` (same as -c)")
	return fs, path
}

// loadConfig reads and validates the config at path, with the environment's overrides.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, os.LookupEnv)
}

// newLogger builds the daemon's logger from the [server] settings.
func newLogger(w io.Writer, s config.Server) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.LogLevel}
	if s.LogFormat == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// requireArgsDone fails when positional arguments are left over.
func requireArgsDone(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
