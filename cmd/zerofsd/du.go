package main

import (
	"context"
	"fmt"
	"io"

	"github.com/zerofs-go/zerofsd/lsm"
)

// runDu is `zerofsd du --export NAME`: how many bytes of file data the
// export holds (live, at their plain size) against how many its store
// holds (stored, compressed where compression paid), by kind of object;
// with compressible data stored may be below live. Like fsck it opens the export read-only, so a running daemon
// keeps serving; the daemon's writes not yet in the store are not counted.
func runDu(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("du", stderr)
	name := fs.String("export", "", "export `name` to measure (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	ro, err := openReadOnlyExport(ctx, *path, *name, "", stderr)
	if err != nil {
		return err
	}
	defer ro.Close(context.WithoutCancel(ctx))
	u, err := ro.Usage(ctx)
	if err != nil {
		return fmt.Errorf("export %s: du: %w", *name, err)
	}
	printUsage(stdout, *name, ro.FS.DataBytes(), u)
	return nil
}

// printUsage writes the report of runDu.
func printUsage(w io.Writer, name string, live int64, u lsm.Usage) {
	stored := u.StoredBytes()
	ratio := "-"
	if live > 0 {
		ratio = fmt.Sprintf("%.2f", float64(stored)/float64(live))
	}
	line := func(indent, what string, n int64, rest string) {
		fmt.Fprintf(w, "%s%-*s %13d bytes %11s  %s\n", indent, 22-len(indent), what, n, humanBytes(n), rest)
	}
	fmt.Fprintf(w, "export %s (manifest %d)\n", name, u.ManifestID)
	line("  ", "live", live, "file data")
	line("  ", "stored", stored, "every object of the store, "+ratio+" x live")
	for _, row := range []struct {
		what string
		u    lsm.ObjectUsage
	}{{"SSTs", u.Tables}, {"WAL objects", u.WAL}, {"value objects", u.ValueObjects}, {"manifests", u.Manifests}} {
		line("    ", row.what, row.u.Bytes, fmt.Sprintf("%d objects", row.u.Objects))
	}
	fmt.Fprintln(w, "  used by the latest state:")
	line("    ", "SSTs", u.CurrentTables.Bytes, fmt.Sprintf("%d objects", u.CurrentTables.Objects))
	line("    ", "with values", u.Referenced.Bytes, fmt.Sprintf("%d WAL and value objects, pointed into for %s",
		u.Referenced.Objects, humanBytes(u.ReferencedValueBytes)))
	line("  ", "only for checkpoints", u.Pinned.Bytes, fmt.Sprintf("%d objects", u.Pinned.Objects))
}

// humanBytes formats n in binary units with one decimal.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
