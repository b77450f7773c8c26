package nfsvm

import (
	"fmt"
	"strings"
	"testing"
)

// recordingTB records how ForTest ends a test; Fatalf and Skipf stop the
// caller as the real ones do, by unwinding (here, with a panic).
type recordingTB struct {
	testing.TB
	failed, skipped string
}

type stopped struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (r *recordingTB) Skip(args ...any) { r.Skipf("%s", fmt.Sprint(args...)) }

// TestForTestMissingHarness: without qemu on PATH, ForTest skips, or fails
// under ZEROFS_REQUIRE_KERNEL=1.
func TestForTestMissingHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("ForTest skips everything in -short mode")
	}
	for _, require := range []string{"", "1"} {
		t.Run("require="+require, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv(RequireEnv, require)
			t.Setenv(CacheEnv, t.TempDir())
			r := &recordingTB{TB: t}
			func() {
				defer func() {
					if p := recover(); p != nil && p != (stopped{}) {
						panic(p)
					}
				}()
				ForTest(r)
			}()
			if require == "1" {
				if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, "qemu-system-x86_64") {
					t.Fatalf("failed %q, skipped %q: want a failure naming qemu", r.failed, r.skipped)
				}
			} else if r.skipped == "" || r.failed != "" || !strings.Contains(r.skipped, "qemu-system-x86_64") {
				t.Fatalf("failed %q, skipped %q: want a skip naming qemu", r.failed, r.skipped)
			}
		})
	}
}
