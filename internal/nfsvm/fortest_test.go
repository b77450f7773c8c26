package nfsvm

import (
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

// TestForTestMissingHarness: without qemu on PATH, ForTest skips, or fails
// under ZEROFS_REQUIRE_KERNEL=1.
func TestForTestMissingHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("ForTest skips everything in -short mode")
	}
	for _, required := range []string{"", "1"} {
		t.Run("require="+required, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv(RequireEnv, required)
			t.Setenv(CacheEnv, t.TempDir())
			r := &require.Recorder{TB: t}
			r.Run(func(tb testing.TB) { ForTest(tb) })
			if required == "1" {
				if r.FailedWith == "" || r.SkippedWith != "" || !strings.Contains(r.FailedWith, "qemu-system-x86_64") {
					t.Fatalf("failed %q, skipped %q: want a failure naming qemu", r.FailedWith, r.SkippedWith)
				}
			} else if r.SkippedWith == "" || r.FailedWith != "" || !strings.Contains(r.SkippedWith, "qemu-system-x86_64") {
				t.Fatalf("failed %q, skipped %q: want a skip naming qemu", r.FailedWith, r.SkippedWith)
			}
		})
	}
}
