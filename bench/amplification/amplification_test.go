package main

import (
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
)

// TestTargets runs the workloads at an eighth of the command's default
// size (memtables and GC thresholds scaled alike) and checks the bounds
// the design promises: random 4 KiB writes cost at most 3 bytes in the
// bucket per client byte, sequential writes 1.5, and after overwrites and
// deletions plus GC the bucket holds at most 1.3 times the live data. With
// compression and compressible text (snappy: about 0.6 of its size; zstd:
// 0.4), the same workloads must cost less than that: random writes at most
// 2 bytes per client byte with snappy, sequential ones 0.55 with zstd, and
// the bucket no more than 0.8 and 0.55 times the live data.
func TestTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few hundred MiB")
	}
	cfg := Config{
		FileBytes:    32 << 20,
		RandomBytes:  32 << 20,
		TreeFiles:    1250,
		SmallFiles:   500,
		GCEveryBytes: 4 << 20,
		LSM:          lsm.Options{MemtableBytes: 8 << 20, ValueGCMinBytes: 2 << 20},
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name               string
		run                func(context.Context, Config) (Result, error)
		maxWrite, maxSpace float64
		compression        sstable.Compression
		text               bool
	}{
		{"random", RandomWrite, 3, 0, sstable.CompressionNone, false},
		{"sequential", SequentialWrite, 1.5, 0, sstable.CompressionNone, false},
		{"overwrite", OverwriteDelete, 0, 1.3, sstable.CompressionNone, false},
		{"small", SmallFiles, 1.5, 1.3, sstable.CompressionNone, false},
		{"random, snappy, text", RandomWrite, 2, 0.8, sstable.CompressionSnappy, true},
		{"sequential, zstd, text", SequentialWrite, 0.55, 0.55, sstable.CompressionZstd, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.LSM.Compression, cfg.Text = tc.compression, tc.text
			r, err := tc.run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: write amp %.2f (%d PUTs; WAL %d, relocated %d, compaction output %d bytes), space amp %.2f, %d GETs reading back",
				r.Name, r.WriteAmp(), r.Puts, r.WALBytes, r.Relocated, r.CompactedBytes, r.SpaceAmp(), r.ReadGets)
			if tc.maxWrite > 0 && r.WriteAmp() > tc.maxWrite {
				t.Errorf("%d bytes written to the bucket for %d client bytes: %.2f per byte, want at most %.1f",
					r.PutBytes, r.ClientBytes, r.WriteAmp(), tc.maxWrite)
			}
			if tc.maxSpace > 0 && r.SpaceAmp() > tc.maxSpace {
				t.Errorf("the bucket holds %d bytes for %d live: %.2f per byte, want at most %.1f",
					r.StoredBytes, r.LiveBytes, r.SpaceAmp(), tc.maxSpace)
			}
		})
	}
}
