package main

import (
	"context"
	"fmt"
	"io"
)

// runFsck is `zerofsd fsck --export NAME`: a read-only consistency check of
// one export's filesystem. Run it while the daemon is stopped: opening the
// export as a writer would fence a running daemon.
func runFsck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("fsck", stderr)
	name := fs.String("export", "", "export `name` to check (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --export is required", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	reg, closeAll, err := openOneExport(ctx, cfg, *name, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	fsys, _ := reg.FS(*name)
	report, err := fsys.Fsck(ctx)
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
