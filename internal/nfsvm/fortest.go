package nfsvm

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

// Environment variables of ForTest and the nfsvm command.
const (
	CacheEnv   = "ZEROFS_NFSVM_CACHE" // the image cache; default DefaultCache
	NetworkEnv = "ZEROFS_NFSVM_NET"   // tap or user; default NetAuto
	RequireEnv = require.Kernel       // "1": a missing harness fails tests instead of skipping them
)

// ForTest returns the VM for a test that needs the kernel client, building
// the boot image if it is out of date (without installing anything). When
// the host lacks what it needs the test is skipped, or fails if
// ZEROFS_REQUIRE_KERNEL=1 (`make test`). In -short mode it is skipped: the
// guest CPU is emulated and a run takes minutes.
func ForTest(t testing.TB) *VM {
	t.Helper()
	if testing.Short() {
		t.Skip("nfsvm: kernel client tests run under an emulated CPU; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	vm, err := Setup(ctx, SetupOptions{Cache: os.Getenv(CacheEnv)})
	if err != nil {
		require.Missing(t, RequireEnv, "%v", err)
	}
	vm.Network = Network(os.Getenv(NetworkEnv))
	return vm
}
