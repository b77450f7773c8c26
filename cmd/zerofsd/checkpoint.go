package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/lsm"
)

// runCheckpoint is `zerofsd checkpoint create|list|delete --export NAME [--name N]`.
// A checkpoint pins one version of an export's database (a snapshot) until it
// is deleted. The command changes the export's manifest with the same
// compare-and-swap as its writer but never fences it, so a running daemon
// keeps serving. A checkpoint holds what the database has written as SSTs: all
// of it once the daemon stopped cleanly (SIGTERM writes the memtables out);
// while it runs, the writes of the last moments may still be only in its WAL
// (or, with durability = "local", in its local journal).
func runCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: checkpoint needs an action: create, list or delete", errUsage)
	}
	action, args := args[0], args[1:]
	if isHelp(action) {
		fmt.Fprintln(stdout, "usage: zerofsd checkpoint create|list|delete -c FILE --export NAME [--name N]")
		return nil
	}
	fs, path := newFlags("checkpoint "+action, stderr)
	export := fs.String("export", "", "export `name` (required)")
	name := fs.String("name", "", "checkpoint `name` (create: default a timestamp; delete: required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	if *export == "" {
		return fmt.Errorf("%w: --export is required", errUsage)
	}
	switch action {
	case "create", "list", "delete":
	default:
		return fmt.Errorf("%w: unknown checkpoint action %q (want create, list or delete)", errUsage, action)
	}
	if action == "delete" && *name == "" {
		return fmt.Errorf("%w: checkpoint delete needs --name", errUsage)
	}
	if action == "create" && strings.HasPrefix(*name, config.ScheduledSnapshotPrefix) {
		return fmt.Errorf("%w: names starting with %q are the scheduled snapshots' (snapshot_every), which the schedule deletes: choose another", errUsage, config.ScheduledSnapshotPrefix)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ec, err := findExport(cfg, *export)
	if err != nil {
		return err
	}
	store, err := exports.OpenDatabaseStore(ctx, ec, maintenanceLogger(cfg, stderr))
	if err != nil {
		return err
	}
	switch action {
	case "create":
		if *name == "" {
			*name = time.Now().UTC().Format("20060102T150405Z")
		}
		info, err := lsm.CreateCheckpoint(ctx, store, *name)
		if err != nil {
			return fmt.Errorf("export %s: creating checkpoint %q: %w", *export, *name, err)
		}
		fmt.Fprintf(stdout, "export %s: checkpoint %q created (manifest %d)\n", *export, info.Name, info.ManifestID)
	case "list":
		cps, err := lsm.StoredCheckpoints(ctx, store)
		if err != nil {
			return fmt.Errorf("export %s: listing checkpoints: %w", *export, err)
		}
		for _, cp := range cps {
			fmt.Fprintf(stdout, "%s\tmanifest %d\t%s\n", cp.Name, cp.ManifestID, cp.Created.UTC().Format(time.RFC3339))
		}
	case "delete":
		if err := lsm.RemoveCheckpoint(ctx, store, *name); err != nil {
			return fmt.Errorf("export %s: deleting checkpoint %q: %w", *export, *name, err)
		}
		fmt.Fprintf(stdout, "export %s: checkpoint %q deleted\n", *export, *name)
	}
	return nil
}
