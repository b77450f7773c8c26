package portmap

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// registered returns the TCP mappings rpcbind lists for NFS and MOUNT.
func registered(t *testing.T, ctx context.Context) []Mapping {
	t.Helper()
	c, err := Dial(ctx, "tcp", "127.0.0.1:111")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, err := c.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(ms, func(m Mapping) bool { return m.Prog == Program })
}

// TestRegisterWithRPCBind registers, re-registers (as after a crash) and
// unregisters NFS and MOUNT with a real rpcbind, and checks what its
// clients are told.
func TestRegisterWithRPCBind(t *testing.T) {
	testenv.RPCBind(t)
	ctx := testContext(t)

	if err := Register(ctx, "", testServices, netip.MustParseAddrPort("0.0.0.0:2049")); err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := []Mapping{{progNFS, 3, ProtoTCP, 2049}, {progMount, 3, ProtoTCP, 2049}}
	if got := registered(t, ctx); !slices.Equal(got, want) {
		t.Fatalf("after Register, rpcbind lists %v, want %v", got, want)
	}
	c, err := Dial(ctx, "tcp", "127.0.0.1:111")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ua, err := c.GetAddr(ctx, VersionRPCB4, RPCB{Prog: progMount, Vers: 3, NetID: "tcp"}); ua != "127.0.0.1.8.1" || err != nil {
		t.Errorf("rpcbind GETADDR of MOUNT v3 = %q, %v; want 127.0.0.1.8.1", ua, err)
	}

	// A second run on another port (the first did not unregister) replaces
	// the stale registrations.
	if err := Register(ctx, "", testServices, netip.MustParseAddrPort("127.0.0.1:2050")); err != nil {
		t.Fatalf("Register over stale registrations: %v", err)
	}
	want = []Mapping{{progNFS, 3, ProtoTCP, 2050}, {progMount, 3, ProtoTCP, 2050}}
	if got := registered(t, ctx); !slices.Equal(got, want) {
		t.Fatalf("after the second Register, rpcbind lists %v, want %v", got, want)
	}

	if err := Unregister(ctx, "", testServices); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if got := registered(t, ctx); len(got) != 0 {
		t.Fatalf("after Unregister, rpcbind still lists %v", got)
	}
}

func TestRegisterWithoutRPCBind(t *testing.T) {
	err := Register(testContext(t), t.TempDir()+"/no.sock", testServices, netip.MustParseAddrPort("0.0.0.0:2049"))
	if err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Register without rpcbind: %v, want ENOENT", err)
	}
}
