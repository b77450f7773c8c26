package nfs

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// mountTable remembers which client mounted which path, for DUMP. It is
// advisory only (as in every NFS server): access is checked on each call.
type mountTable struct {
	mu      sync.Mutex
	entries map[mountEntry]struct{}
}

type mountEntry struct {
	host netip.Addr
	path string
}

func (m *mountTable) add(host netip.Addr, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = make(map[mountEntry]struct{})
	}
	m.entries[mountEntry{host, path}] = struct{}{}
}

func (m *mountTable) remove(host netip.Addr, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, mountEntry{host, path})
}

func (m *mountTable) removeHost(host netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for e := range m.entries {
		if e.host == host {
			delete(m.entries, e)
		}
	}
}

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
