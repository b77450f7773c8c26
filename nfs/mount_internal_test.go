package nfs

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// The mount table keeps the most recently mounted entries up to its
// bound: a MNT from a new address must not make it grow without end.
func TestMountTableForgetsTheLeastRecentlyMounted(t *testing.T) {
	host := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	m := newMountTable(3)
	for i := range 3 {
		m.add(host(i), "/a")
	}
	m.add(host(0), "/a") // mounted again: now the most recent
	m.add(host(3), "/a")
	var got []int
	for _, e := range m.list() {
		got = append(got, int(e.host.As4()[3]))
	}
	if want := []int{0, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("hosts %v remembered, want %v", got, want)
	}
	for i := range 100 {
		m.add(host(i), fmt.Sprintf("/p%d", i))
	}
	if n := len(m.list()); n != 3 || m.order.Len() != 3 {
		t.Fatalf("%d entries (%d in order) with a bound of 3", n, m.order.Len())
	}
	m.remove(host(99), "/p99")
	m.removeHost(host(98))
	if got := m.list(); len(got) != 1 || got[0].path != "/p97" || m.order.Len() != 1 {
		t.Fatalf("after UMNT and UMNTALL: %v", got)
	}
}
