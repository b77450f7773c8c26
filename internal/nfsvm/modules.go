package nfsvm

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// guestModules are the kernel modules the guest loads, with everything they
// depend on: the virtio PCI transport, its NIC, its serial ports (the
// control and output channels), 9p over virtio (the host's files), the NFSv3
// client, and FUSE (for s3fs and rclone in bench/fs).
var guestModules = []string{"virtio_pci", "virtio_net", "virtio_console", "9pnet_virtio", "9p", "nfsv3", "fuse"}

// moduleName is the name the kernel knows a module file by:
// "kernel/fs/nfs/nfsv3.ko.xz" is "nfsv3", and '-' is '_'.
func moduleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// moduleDeps is a parsed modules.dep: module name -> its file and the files
// of every module it needs (modules.dep lists them transitively).
type moduleDeps map[string]moduleEntry

type moduleEntry struct {
	file string
	deps []string
}

func parseModulesDep(r io.Reader) (moduleDeps, error) {
	deps := moduleDeps{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[moduleName(file)] = moduleEntry{file: file, deps: strings.Fields(rest)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	return deps, nil
}

// parseBuiltin reads modules.builtin (one file name per line): the modules
// compiled into the kernel, which need no loading.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	builtin := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			builtin[moduleName(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.builtin: %w", err)
	}
	return builtin, nil
}

// loadOrder returns the files of the wanted modules and of their
// dependencies, each once, every module after the modules it needs. Wanted
// modules that are built in are left out; a wanted module that is neither
// built in nor in deps is an error.
func loadOrder(deps moduleDeps, builtin map[string]bool, wanted []string) ([]string, error) {
	var order []string
	done := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if done[name] || builtin[name] {
			return nil
		}
		for _, c := range chain {
			if c == name {
				return fmt.Errorf("module dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
			}
		}
		e, ok := deps[name]
		if !ok {
			return fmt.Errorf("kernel module %s is neither built in nor in modules.dep", name)
		}
		for _, d := range e.deps {
			if err := visit(moduleName(d), append(chain, name)); err != nil {
				return err
			}
		}
		done[name] = true
		order = append(order, e.file)
		return nil
	}
	for _, w := range wanted {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
