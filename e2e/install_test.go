package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallSystemdUnit installs into a scratch root with `make install
// DESTDIR=...` and checks the unit as installed: systemd-analyze verify
// accepts it without a single warning, it runs as the zerofs user with only
// CAP_NET_BIND_SERVICE, the README it points to is installed, the
// installed config is valid, and /etc/zerofs, the config and zerofs.env
// have their modes (kept, with their contents, by a second install).
func TestInstallSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install the Debian package systemd (make test-deps does)")
	}
	root := t.TempDir()
	install := exec.Command("make", "-s", "-C", "..", "install", "DESTDIR="+root, "BIN="+zerofsdBinary)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	unitPath := filepath.Join(root, "etc/systemd/system/zerofsd.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=zerofs\n",
		"ExecStart=/usr/local/bin/zerofsd run -c /etc/zerofs/zerofs.toml\n",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"ProtectSystem=strict\n",
		"Documentation=file:///usr/local/share/doc/zerofsd/README.md\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("installed unit lacks %q", want)
		}
	}
	if strings.Contains(string(unit), "@BINDIR@") || strings.Contains(string(unit), "@DOCDIR@") {
		t.Errorf("installed unit still holds a template placeholder:\n%s", unit)
	}
	for _, f := range []string{"usr/local/share/doc/zerofsd/README.md", "usr/lib/sysusers.d/zerofsd.conf", "usr/local/bin/zerofsd"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}

	// systemd-analyze checks that ExecStart is executable at its path, so
	// verify a copy that points at the binary in the scratch root; every
	// other line is the installed one.
	installedBin := filepath.Join(root, "usr/local/bin/zerofsd")
	copyPath := filepath.Join(t.TempDir(), "zerofsd.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/zerofsd", installedBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: err=%v, output:\n%s", err, out)
	}

	check := exec.Command(installedBin, "check-config", "-c", filepath.Join(root, "etc/zerofs/zerofs.toml"))
	check.Env = append(os.Environ(), "SLATEDB_CACHE_DIR=", "SLATEDB_CACHE_SIZE_GB=")
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("installed config does not validate: %v\n%s", err, out)
	}

	// /etc/zerofs and what is in it are closed to others: the config
	// to all but the zerofs group, the secrets in zerofs.env to all but
	// root. Before, the directory was 0755 and zerofs.env did not exist
	// (sudoedit then made it under the default umask, 0644).
	etc := filepath.Join(root, "etc/zerofs")
	wantModes := func(when string) {
		t.Helper()
		for _, m := range []struct {
			path string
			mode os.FileMode
		}{
			{etc, os.ModeDir | 0o750},
			{filepath.Join(etc, "zerofs.toml"), 0o640},
			{filepath.Join(etc, "zerofs.env"), 0o600},
		} {
			fi, err := os.Stat(m.path)
			if err != nil {
				t.Errorf("%s: %v", when, err)
			} else if fi.Mode() != m.mode {
				t.Errorf("%s: %s has mode %v, want %v", when, m.path, fi.Mode(), m.mode)
			}
		}
	}
	wantModes("after make install")
	if data, err := os.ReadFile(filepath.Join(etc, "zerofs.env")); err != nil || len(data) != 0 {
		t.Errorf("installed zerofs.env: %q, %v; want an empty file", data, err)
	}
	// Installed again over an older install's open directory, with
	// secrets and a config of its own: both are kept, the directory closed.
	const secrets = "AWS_SECRET_ACCESS_KEY=kept\n"
	if err := os.WriteFile(filepath.Join(etc, "zerofs.env"), []byte(secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "zerofs.toml"), []byte("# kept\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	again := exec.Command("make", "-s", "-C", "..", "install", "DESTDIR="+root, "BIN="+zerofsdBinary)
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("make install again: %v\n%s", err, out)
	}
	wantModes("after make install again")
	for name, want := range map[string]string{"zerofs.env": secrets, "zerofs.toml": "# kept\n"} {
		if data, err := os.ReadFile(filepath.Join(etc, name)); err != nil || string(data) != want {
			t.Errorf("%s after installing again: %q, %v; want %q kept", name, data, err, want)
		}
	}
}

// TestInstallRunsWithoutGo checks the documented recipe `make build` then
// `sudo make install`: once the binary is built and newer than every
// source, install does not build again, so it works where go is not on the
// PATH (sudo's secure_path) and writes nothing into the tree as root.
func TestInstallRunsWithoutGo(t *testing.T) {
	var dirs []string
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			continue // a go here would hide the difference
		}
		dirs = append(dirs, dir)
	}
	path := strings.Join(dirs, string(os.PathListSeparator))
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make not found")
	}
	// A copy made now is newer than every source, as after `make build`.
	bin := filepath.Join(t.TempDir(), "zerofsd")
	data, err := os.ReadFile(zerofsdBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	install := exec.Command("make", "-s", "-C", "..", "install", "DESTDIR="+root, "BIN="+bin)
	install.Env = append(os.Environ(), "PATH="+path)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install with PATH=%s (no go): %v\n%s", path, err, out)
	}
	installed, err := os.ReadFile(filepath.Join(root, "usr/local/bin/zerofsd"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(installed, data) {
		t.Error("the installed binary is not the one built before")
	}
}
