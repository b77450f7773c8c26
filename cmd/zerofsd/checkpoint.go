package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// runCheckpoint is `zerofsd checkpoint create|list|delete --export NAME [--name N]`.
// A checkpoint pins one version of an export's database (a snapshot) until it
// is deleted. Like fsck, it opens the export as its writer: run it while the
// daemon is stopped.
func runCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: checkpoint needs an action: create, list or delete", errUsage)
	}
	action, args := args[0], args[1:]
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
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	reg, closeAll, err := openOneExport(ctx, cfg, *export, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	db, _ := reg.DB(*export)
	switch action {
	case "create":
		if *name == "" {
			*name = time.Now().UTC().Format("20060102T150405Z")
		}
		info, err := db.Checkpoint(ctx, *name)
		if err != nil {
			return fmt.Errorf("export %s: creating checkpoint %q: %w", *export, *name, err)
		}
		fmt.Fprintf(stdout, "export %s: checkpoint %q created (manifest %d)\n", *export, info.Name, info.ManifestID)
	case "list":
		cps, err := db.ListCheckpoints(ctx)
		if err != nil {
			return fmt.Errorf("export %s: listing checkpoints: %w", *export, err)
		}
		for _, cp := range cps {
			fmt.Fprintf(stdout, "%s\tmanifest %d\t%s\n", cp.Name, cp.ManifestID, cp.Created.UTC().Format(time.RFC3339))
		}
	case "delete":
		if err := db.DeleteCheckpoint(ctx, *name); err != nil {
			return fmt.Errorf("export %s: deleting checkpoint %q: %w", *export, *name, err)
		}
		fmt.Fprintf(stdout, "export %s: checkpoint %q deleted\n", *export, *name)
	}
	return nil
}
