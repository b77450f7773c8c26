package main

import (
	"context"
	"fmt"
	"io"
)

// runCheckConfig validates a config without opening any store and prints the
// effective configuration (defaults and environment applied, secrets redacted).
func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("check-config", stderr)
	quiet := fs.Bool("q", false, "print nothing when the config is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	cfg, err := loadServingConfig(*path)
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stdout, "# %s is valid; %d export(s). Effective configuration:\n", cfg.File, len(cfg.Exports))
		fmt.Fprint(stdout, cfg.String())
	}
	return nil
}
