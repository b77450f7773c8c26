package main

import (
	"context"
	"fmt"
	"io"
)

// runFsck is `zerofsd fsck --export NAME [--checkpoint N]`: a read-only
// consistency check of one export's filesystem at its latest durable state
// (or at a checkpoint). It never becomes the export's writer, so a running
// daemon keeps serving; what the daemon has not yet written to the store is
// not seen (with durability = "local", what is only in its journal).
func runFsck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("fsck", stderr)
	name := fs.String("export", "", "export `name` to check (required)")
	checkpoint := fs.String("checkpoint", "", "check this checkpoint `name` instead of the latest state")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	ro, err := openReadOnlyExport(ctx, *path, *name, *checkpoint, stderr)
	if err != nil {
		return err
	}
	defer ro.Close(context.WithoutCancel(ctx))
	report, err := ro.FS.Fsck(ctx)
	if err != nil {
		return fmt.Errorf("export %s: fsck: %w", *name, err)
	}
	fmt.Fprintf(stdout, "export %s: %d inodes (%d directories), %d entries, %d chunks (%d bytes), %d pending reclaims\n",
		*name, report.Inodes, report.Dirs, report.Entries, report.Chunks, report.ChunkBytes, report.PendingReclaims)
	for _, p := range report.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	if !report.OK() {
		return fmt.Errorf("export %s: the filesystem is inconsistent (dangling entries %d, index mismatches %d, nlink mismatches %d, orphan inodes %d, orphan chunks %d, accounting drifts %d, corrupt %d)",
			*name, report.DanglingEntries, report.IndexMismatches, report.NlinkMismatches, report.OrphanInodes,
			report.OrphanChunks, report.AccountingDrifts, report.Corrupt)
	}
	fmt.Fprintf(stdout, "export %s: clean\n", *name)
	return nil
}
