package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/objstore"
)

// TestKeyRotate rotates an export from its key file to a passphrase given
// in a variable, then back to a key file: each time the new key unlocks
// the export and the old one no longer does.
func TestKeyRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	keyFile := func(name string, b byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{b}, crypt.KeyLen), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first, third := keyFile("first.key", 1), keyFile("third.key", 3)
	writeConfig := func(keyLine string) string {
		p := filepath.Join(dir, "zerofs.toml")
		content := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 1\n[[exports]]\nname = \"team-a\"\npath = \"/a\"\nstore = \"file://%s\"\nencryption = true\n%s",
			filepath.Join(dir, "cache"), storeDir, keyLine)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	store, err := objstore.NewLocal(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	cred := func(path string) crypt.Credential {
		c, err := crypt.ReadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := crypt.Open(ctx, store, cred(first), crypt.KeyringOptions{}); err != nil {
		t.Fatal(err)
	}

	const pass = "the second key, a passphrase"
	t.Setenv("NEW_ZEROFS_PASSPHRASE", pass)
	cfg := writeConfig(fmt.Sprintf("key_file = %q\n", first))
	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"key", "rotate", "-c", cfg, "--export", "team-a", "--new-passphrase-env", "NEW_ZEROFS_PASSPHRASE"}, &stdout, &stderr); code != 0 {
		t.Fatalf("rotate to a passphrase: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ZEROFS_KEY_TEAM_A") || strings.Contains(stdout.String()+stderr.String(), pass) {
		t.Errorf("output does not point to ZEROFS_KEY_TEAM_A, or shows the passphrase:\n%s", stdout.String())
	}
	p, err := crypt.Passphrase(pass, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.Open(ctx, store, p, crypt.KeyringOptions{ReadOnly: true}); err != nil {
		t.Fatalf("the new passphrase does not open the export: %v", err)
	}
	if _, err := crypt.Open(ctx, store, cred(first), crypt.KeyringOptions{ReadOnly: true}); !errors.Is(err, crypt.ErrWrongKey) {
		t.Fatalf("the old key file after rotation: %v", err)
	}

	t.Setenv("ZEROFS_KEY_TEAM_A", pass)
	cfg = writeConfig("")
	stdout.Reset()
	stderr.Reset()
	if code := dispatch(ctx, []string{"key", "rotate", "-c", cfg, "--export", "team-a", "--new-key-file", third}, &stdout, &stderr); code != 0 {
		t.Fatalf("rotate to a key file: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "key_file = \""+third+"\"") {
		t.Errorf("output does not say which key_file to set:\n%s", stdout.String())
	}
	if _, err := crypt.Open(ctx, store, cred(third), crypt.KeyringOptions{ReadOnly: true}); err != nil {
		t.Fatalf("the new key file does not open the export: %v", err)
	}

	// The old passphrase is refused, naming the keyring, without changing anything.
	stderr.Reset()
	if code := dispatch(ctx, []string{"key", "rotate", "-c", cfg, "--export", "team-a", "--new-key-file", first}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "wrong key") {
		t.Fatalf("rotate with the old passphrase: exit %d: %s", code, stderr.String())
	}
}

// TestKeyRotateRelativeKeyFile rotates to a key file named relative to the
// working directory, which is not the config file's: the line it asks to
// put in the config names the file that was read, absolutely, since the
// config resolves a relative key_file against its own directory.
func TestKeyRotateRelativeKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	confDir, workDir := filepath.Join(dir, "etc"), filepath.Join(dir, "work")
	for _, d := range []string{confDir, workDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldKey, newKey := filepath.Join(confDir, "old.key"), filepath.Join(workDir, "new.key")
	for p, b := range map[string]byte{oldKey: 1, newKey: 2} {
		if err := os.WriteFile(p, bytes.Repeat([]byte{b}, crypt.KeyLen), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	storeDir := filepath.Join(dir, "store")
	store, err := objstore.NewLocal(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	oldCred, err := crypt.ReadKeyFile(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.Open(ctx, store, oldCred, crypt.KeyringOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(confDir, "zerofs.toml")
	content := fmt.Sprintf("[cache]\ndir = \"cache\"\nsize_gb = 1\n[[exports]]\nname = \"team-a\"\npath = \"/a\"\nstore = \"file://%s\"\nencryption = true\nkey_file = \"old.key\"\n", storeDir)
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Chdir(workDir)
	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"key", "rotate", "-c", cfg, "--export", "team-a", "--new-key-file", "new.key"}, &stdout, &stderr); code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, stderr.String())
	}
	if want := fmt.Sprintf("set key_file = %q", newKey); !strings.Contains(stdout.String(), want) {
		t.Errorf("output does not say %s:\n%s", want, stdout.String())
	}
}
