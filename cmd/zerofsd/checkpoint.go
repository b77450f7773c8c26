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

// runCheckpoint is `zerofsd checkpoint create|list|delete|restore --export NAME [--name N] [--undo U]`.
// A checkpoint pins one version of an export's database (a snapshot) until it
// is deleted. The command changes the export's manifest with the same
// compare-and-swap as its writer but never fences it, so a running daemon
// keeps serving. A checkpoint holds what the database has written as SSTs: all
// of it once the daemon stopped cleanly (SIGTERM writes the memtables out);
// while it runs, the writes of the last moments may still be only in its WAL
// (or, with durability = "local", in its local journal).
//
// restore rolls the export back to checkpoint --name: the current state
// (everything in the store, its WAL included) becomes checkpoint --undo
// first (default pre-restore-<UTC time>), so restoring that undoes it. A
// running daemon serving the export is fenced, and opens the store again by
// itself to serve the restored tree.
//
// Neither create's --name nor --undo may start like a scheduled snapshot's
// name (config.ScheduledSnapshotPrefix).
func runCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: checkpoint needs an action: create, list, delete or restore", errUsage)
	}
	action, args := args[0], args[1:]
	if isHelp(action) {
		fmt.Fprintln(stdout, "usage: zerofsd checkpoint create|list|delete|restore -c FILE --export NAME [--name N] [--undo U]")
		return nil
	}
	fs, path := newFlags("checkpoint "+action, stderr)
	export := fs.String("export", "", "export `name` (required)")
	name := fs.String("name", "", "checkpoint `name` (create: default a timestamp; delete and restore: required)")
	undo := fs.String("undo", "", "restore: `name` of the checkpoint that keeps the state replaced (default pre-restore-<UTC time>)")
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
	case "create", "list", "delete", "restore":
	default:
		return fmt.Errorf("%w: unknown checkpoint action %q (want create, list, delete or restore)", errUsage, action)
	}
	if (action == "delete" || action == "restore") && *name == "" {
		return fmt.Errorf("%w: checkpoint %s needs --name", errUsage, action)
	}
	if *undo != "" && action != "restore" {
		return fmt.Errorf("%w: --undo is for checkpoint restore", errUsage)
	}
	// A checkpoint made here must not pass for a scheduled one: snapshot_keep
	// would delete it, and one dated in the future would hold the schedule back.
	if action == "create" && strings.HasPrefix(*name, config.ScheduledSnapshotPrefix) {
		return scheduledNameError("--name")
	}
	if strings.HasPrefix(*undo, config.ScheduledSnapshotPrefix) {
		return scheduledNameError("--undo")
	}
	cfg, ec, err := loadExportConfig(*path, *export)
	if err != nil {
		return err
	}
	if action == "restore" {
		if *undo == "" {
			*undo = "pre-restore-" + time.Now().UTC().Format("20060102T150405Z")
		}
		m, err := exports.Restore(ctx, ec, *name, *undo, maintenanceLogger(cfg, stderr))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "export %s: restored checkpoint %q; the state it replaced is checkpoint %q (restore it to undo)\n", *export, m.Checkpoint, m.Undo)
		return nil
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

// scheduledNameError refuses a checkpoint name, given with flag, that starts
// like the scheduled snapshots' names.
func scheduledNameError(flag string) error {
	return fmt.Errorf("%w: %s: names starting with %q are the scheduled snapshots' (snapshot_every), which the schedule deletes: choose another", errUsage, flag, config.ScheduledSnapshotPrefix)
}
