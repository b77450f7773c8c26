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

// loadConfig reads and validates the config at path, with the environment's
// overrides and the checks opts add.
func loadConfig(path string, opts ...config.LoadOption) (*config.Config, error) {
	return config.Load(path, os.LookupEnv, opts...)
}

// loadServingConfig is loadConfig for what serves every export of the
// config (run, reload) or vouches for all of them (check-config): every
// encrypted export's key is checked with the rest.
func loadServingConfig(path string) (*config.Config, error) {
	return loadConfig(path, config.CheckKeys())
}

// loadExportConfig is loadConfig for a command that works on the export
// of that name alone, returning that export too: only its key is checked,
// so that another export's key (missing, or unreadable by whoever runs the
// command) does not stop it.
func loadExportConfig(path, name string) (*config.Config, config.Export, error) {
	cfg, err := loadConfig(path, config.CheckKeyOf(name))
	if err != nil {
		return nil, config.Export{}, err
	}
	ec, err := findExport(cfg, name)
	if err != nil {
		return nil, config.Export{}, err
	}
	return cfg, ec, nil
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
