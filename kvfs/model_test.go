package kvfs_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/kvfstest"
)

// TestModelWithCrashes runs the model-based randomized test on MemKV.
// KVFS_MODEL_SEED reruns one seed; KVFS_MODEL_ROUNDS changes the length.
func TestModelWithCrashes(t *testing.T) {
	o := kvfstest.ModelOptions{}
	if testing.Short() {
		o.Rounds, o.Steps = 10, 40
	}
	if s := os.Getenv("KVFS_MODEL_SEED"); s != "" {
		o.Seed, _ = strconv.ParseUint(s, 10, 64)
	}
	if s := os.Getenv("KVFS_MODEL_ROUNDS"); s != "" {
		o.Rounds, _ = strconv.Atoi(s)
	}
	for _, chunk := range []int{kvfs.DefaultChunkSize, kvfs.MaxChunkSize} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			o := o
			o.FS.ChunkSize = chunk
			kvfstest.RunModel(t, kvfstest.NewMemStore(), o)
		})
	}
}
