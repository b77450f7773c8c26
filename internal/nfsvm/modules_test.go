package nfsvm

import (
	"slices"
	"strings"
	"testing"
)

const testModulesDep = `kernel/fs/nfs/nfsv3.ko: kernel/fs/nfs/nfs.ko kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko kernel/fs/nfs_common/grace.ko
kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko kernel/fs/nfs_common/grace.ko
kernel/fs/lockd/lockd.ko: kernel/net/sunrpc/sunrpc.ko kernel/fs/nfs_common/grace.ko
kernel/net/sunrpc/sunrpc.ko:
kernel/fs/nfs_common/grace.ko:
kernel/drivers/virtio/virtio-pci.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/loop/a.ko: kernel/loop/b.ko
kernel/loop/b.ko: kernel/loop/a.ko
`

func TestLoadOrder(t *testing.T) {
	deps, err := parseModulesDep(strings.NewReader(testModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		wanted  []string
		builtin []string
		want    []string // module names in load order
		err     string
	}{
		{name: "leaf", wanted: []string{"sunrpc"}, want: []string{"sunrpc"}},
		{name: "dependencies first, each once", wanted: []string{"nfsv3", "lockd"},
			want: []string{"sunrpc", "grace", "lockd", "nfs", "nfsv3"}},
		{name: "built in left out", wanted: []string{"nfs"}, builtin: []string{"sunrpc"},
			want: []string{"grace", "lockd", "nfs"}},
		{name: "dash is underscore, compressed", wanted: []string{"virtio_pci"}, want: []string{"virtio_ring", "virtio_pci"}},
		{name: "wanted built in", wanted: []string{"grace"}, builtin: []string{"grace"}, want: nil},
		{name: "unknown", wanted: []string{"nope"}, err: "neither built in nor in modules.dep"},
		{name: "cycle", wanted: []string{"a"}, err: "cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			builtin := map[string]bool{}
			for _, b := range tc.builtin {
				builtin[b] = true
			}
			files, err := loadOrder(deps, builtin, tc.wanted)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range files {
				names = append(names, moduleName(f))
			}
			for i, n := range names {
				for _, d := range deps[n].deps {
					if j := slices.Index(names, moduleName(d)); j > i || (j < 0 && !builtin[moduleName(d)]) {
						t.Fatalf("%s is loaded before its dependency %s: %v", n, moduleName(d), names)
					}
				}
			}
			// Any order that loads each module after its dependencies is
			// right; this one is what a depth-first walk gives.
			if !slices.Equal(names, tc.want) {
				t.Fatalf("order = %v, want %v", names, tc.want)
			}
		})
	}
}

func TestParseBuiltin(t *testing.T) {
	b, err := parseBuiltin(strings.NewReader("kernel/drivers/virtio/virtio-pci.ko\n\nkernel/fs/fuse/fuse.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !b["virtio_pci"] || !b["fuse"] || len(b) != 2 {
		t.Fatalf("builtin = %v", b)
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"6.1.0-9-amd64", "6.1.0-57-amd64", true},
		{"6.1.0-57-amd64", "6.1.0-9-amd64", false},
		{"6.1.0-57-amd64", "6.10.0-1-amd64", true},
		{"6.9.0-1-amd64", "6.10.0-1-amd64", true},
		{"6.1.0-57-amd64", "6.1.0-57-amd64", false},
		{"6.1.0-57-rt-amd64", "6.1.0-58-amd64", true},
		{"6.1.0", "6.1.0-1", true},
	}
	for _, tc := range tests {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}
