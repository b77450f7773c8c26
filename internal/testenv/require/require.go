package require

import (
	"fmt"
	"os"
	"testing"
)

// The environment variables that turn Missing's skip into a failure.
const (
	S3     = "ZEROFS_REQUIRE_S3"     // versitygw
	Kernel = "ZEROFS_REQUIRE_KERNEL" // the kernel NFS client VM
	Host   = "ZEROFS_REQUIRE_HOST"   // host tools, port 111, root
)

// Missing ends t because the host lacks what the message (format and args)
// names: it fails t when the environment variable env is "1", and skips it
// otherwise, saying which variable fails instead.
func Missing(t testing.TB, env, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(env) == "1" {
		t.Fatalf("%s (and %s=1)", msg, env)
	}
	t.Skipf("%s; skipping (%s=1 fails instead)", msg, env)
}
