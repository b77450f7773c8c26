package nfs

import (
	"container/list"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// maxMounts bounds the mount table: any host may add entries (one per MNT
// from a new address), so beyond it the entries mounted the longest ago are
// forgotten.
const maxMounts = 4096

// mountTable remembers which client mounted which path, for DUMP. It is
// advisory only (as in every NFS server): access is checked on each call.
// It holds at most max entries, the least recently mounted out first.
type mountTable struct {
	mu      sync.Mutex
	max     int
	entries map[mountEntry]*list.Element
	order   list.List // of mountEntry, the most recently mounted at the front
}

type mountEntry struct {
	host netip.Addr
	path string
}

func newMountTable(max int) *mountTable {
	return &mountTable{max: max, entries: make(map[mountEntry]*list.Element)}
}

func (m *mountTable) add(host netip.Addr, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := mountEntry{host, path}
	if el, ok := m.entries[e]; ok {
		m.order.MoveToFront(el)
		return
	}
	m.entries[e] = m.order.PushFront(e)
	for m.order.Len() > m.max {
		oldest := m.order.Back()
		m.order.Remove(oldest)
		delete(m.entries, oldest.Value.(mountEntry))
	}
}

func (m *mountTable) remove(host netip.Addr, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := mountEntry{host, path}
	if el, ok := m.entries[e]; ok {
		m.order.Remove(el)
		delete(m.entries, e)
	}
}

func (m *mountTable) removeHost(host netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for e, el := range m.entries {
		if e.host == host {
			m.order.Remove(el)
			delete(m.entries, e)
		}
	}
}

// list returns the entries sorted by host, then path.
func (m *mountTable) list() []mountEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]mountEntry, 0, len(m.entries))
	for e := range m.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b mountEntry) int {
		if c := a.host.Compare(b.host); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	return out
}

// cleanMountPath normalises a MOUNT dirpath: trailing slashes go.
func cleanMountPath(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}
