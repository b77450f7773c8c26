// Command amplification measures what file-system workloads cost in the
// bucket: bytes written to the object store per byte the client wrote
// (write amplification, from the first write through L0 flushes,
// compaction and GC), bucket size per live byte at the end (space
// amplification), and requests per file for small files. It runs kvfs on
// an lsm database on the memory store, counting every request.
//
//	amplification [-file-mib 256] [-random-mib 256] [-tree-files 10000] [-small-files 2000]
//	              [-gc-every-mib 32] [-memtable-mib 64] [-value-threshold 0] [-chunk-kib 0]
//	              [-compression none|snappy|zstd] [-text] [-only random,sequential,overwrite,small]
//
// Workloads:
//   - random: a file of -file-mib written sequentially (not counted), then
//     -random-mib of aligned 4 KiB writes at uniformly random offsets;
//   - sequential: a file of -file-mib written in 1 MiB writes;
//   - overwrite: a file of -file-mib written four times over, a tree of
//     -tree-files files (log-uniform 256 B to 64 KiB, 100 per directory),
//     a random half of them deleted;
//   - small: -small-files files of 1 to 16 KiB, then read back from a cold
//     read-only database with a fresh disk cache.
//
// File contents are random bytes, or with -text compressible text (lines
// of words from a small vocabulary). -compression is the database's
// compression (SST blocks and separated values), none by default.
//
// Each ends as a clean stop would (reclaim, memtables written out,
// compaction while triggered) and a GC round; while the client writes, a GC
// round runs every -gc-every-mib, as the daemon's background GC would.
// Results are recorded in RESULTS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
)

func main() {
	fileMiB := flag.Int64("file-mib", 256, "size of the big file, MiB")
	randomMiB := flag.Int64("random-mib", 256, "client MiB of random 4 KiB writes")
	treeFiles := flag.Int("tree-files", 10000, "files of the tree of the overwrite workload")
	smallFiles := flag.Int("small-files", 2000, "files of the small-file workload")
	gcEvery := flag.Int64("gc-every-mib", 32, "a GC round every this many client MiB (0: only at the end)")
	memtableMiB := flag.Int("memtable-mib", 64, "lsm memtable size, MiB")
	valueThreshold := flag.Int("value-threshold", 0, "lsm value threshold, bytes (0: the default; negative: no value separation)")
	chunkKiB := flag.Int("chunk-kib", 0, "kvfs chunk size, KiB (0: the default)")
	compression := flag.String("compression", "none", "lsm compression: none, snappy or zstd")
	text := flag.Bool("text", false, "compressible text as file contents instead of random bytes")
	only := flag.String("only", "random,sequential,overwrite,small", "workloads to run, comma-separated")
	flag.Parse()
	comp, ok := map[string]sstable.Compression{
		"none": sstable.CompressionNone, "snappy": sstable.CompressionSnappy, "zstd": sstable.CompressionZstd,
	}[*compression]
	if !ok {
		fmt.Fprintf(os.Stderr, "amplification: -compression %q: use none, snappy or zstd\n", *compression)
		os.Exit(2)
	}
	cfg := Config{
		FileBytes:    *fileMiB << 20,
		RandomBytes:  *randomMiB << 20,
		TreeFiles:    *treeFiles,
		SmallFiles:   *smallFiles,
		GCEveryBytes: *gcEvery << 20,
		LSM:          lsm.Options{MemtableBytes: *memtableMiB << 20, ValueThreshold: *valueThreshold, Compression: comp},
		FS:           kvfs.Options{ChunkSize: *chunkKiB << 10},
		Text:         *text,
	}
	if err := run(context.Background(), cfg, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "amplification:", err)
		os.Exit(1)
	}
}

var workloads = map[string]func(context.Context, Config) (Result, error){
	"random":     RandomWrite,
	"sequential": SequentialWrite,
	"overwrite":  OverwriteDelete,
	"small":      SmallFiles,
}

func run(ctx context.Context, cfg Config, names []string) error {
	var results []Result
	for _, name := range names {
		w, ok := workloads[name]
		if !ok {
			return fmt.Errorf("unknown workload %q", name)
		}
		fmt.Fprintf(os.Stderr, "running %s...\n", name)
		r, err := w(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tclient MiB\tPUT MiB\twrite amp\tof it WAL\trelocated\tcompactions\tPUTs\tstored MiB\tlive MiB\tspace amp\tPUTs/file\tGETs/file (cold read)\ttook\tCPU\t")
	for _, r := range results {
		perFile := func(n int64) string {
			if r.Files == 0 {
				return "-"
			}
			return fmt.Sprintf("%.3f", float64(n)/float64(r.Files))
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.1f\t%.1f\t%.2f\t%s\t%s\t%s\t%s\t\n", r.Name,
			mib(r.ClientBytes), mib(r.PutBytes), r.WriteAmp(), ratio(r.WALBytes, r.ClientBytes),
			ratio(r.Relocated, r.ClientBytes), ratio(r.CompactedBytes, r.ClientBytes), r.Puts, mib(r.StoredBytes), mib(r.LiveBytes),
			r.SpaceAmp(), perFile(r.Puts), perFile(r.ReadGets), r.Took.Round(1e7), r.CPU.Round(1e7))
	}
	return tw.Flush()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
