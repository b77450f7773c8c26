package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/exports"
)

// runKey is `zerofsd key rotate --export NAME (--new-key-file PATH |
// --new-passphrase-env VAR)`: it locks an encrypted export's data key under
// a new key file or passphrase, unlocking it with the key the config gives.
// No data is rewritten and a running daemon keeps serving (it holds the data
// key); the config must then name the new key before the next start. An
// interrupted rotation leaves an export that opens with the old key or the
// new one; running the command again finishes it.
func runKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usageLine = "usage: zerofsd key rotate -c FILE --export NAME (--new-key-file PATH | --new-passphrase-env VARIABLE)"
	if len(args) == 0 {
		return fmt.Errorf("%w: key needs an action: rotate", errUsage)
	}
	action, args := args[0], args[1:]
	if isHelp(action) {
		fmt.Fprintln(stdout, usageLine)
		return nil
	}
	if action != "rotate" {
		return fmt.Errorf("%w: unknown key action %q (want rotate)", errUsage, action)
	}
	fs, path := newFlags("key rotate", stderr)
	export := fs.String("export", "", "export `name` (required)")
	newKeyFile := fs.String("new-key-file", "", "`path` of the new key file: 32 bytes, or 64 hex digits")
	newPassEnv := fs.String("new-passphrase-env", "", "name of the environment `variable` holding the new passphrase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	if *export == "" {
		return fmt.Errorf("%w: --export is required", errUsage)
	}
	if (*newKeyFile == "") == (*newPassEnv == "") {
		return fmt.Errorf("%w: give exactly one of --new-key-file and --new-passphrase-env", errUsage)
	}
	cfg, ec, err := loadExportConfig(*path, *export)
	if err != nil {
		return err
	}
	if !ec.Encryption.Enabled {
		return fmt.Errorf("export %s has no encryption in %s: nothing to rotate", ec.Name, cfg.File)
	}
	oldCred, err := exports.Credential(ec)
	if err != nil {
		return err
	}
	var newCred crypt.Credential
	var update string
	if *newKeyFile != "" {
		// Read relative to the working directory, but named absolutely: the
		// config resolves a relative key_file against its own directory.
		var keyFile string
		if keyFile, err = filepath.Abs(*newKeyFile); err != nil {
			return fmt.Errorf("--new-key-file %s: %w", *newKeyFile, err)
		}
		newCred, err = crypt.ReadKeyFile(keyFile)
		update = fmt.Sprintf("set key_file = %q for export %s in %s", keyFile, ec.Name, cfg.File)
	} else {
		newCred, err = crypt.Passphrase(os.Getenv(*newPassEnv), *newPassEnv)
		update = fmt.Sprintf("give the daemon the new passphrase in %s (and remove key_file from export %s if it has one)", ec.Encryption.PassphraseEnv, ec.Name)
	}
	if err != nil {
		return err
	}
	store, err := exports.OpenStore(ctx, ec, maintenanceLogger(cfg, stderr))
	if err != nil {
		return fmt.Errorf("export %s: opening store %s: %w", ec.Name, ec.Store, err)
	}
	name, err := crypt.Rotate(ctx, store, oldCred, newCred, crypt.KeyringOptions{})
	if err != nil {
		return fmt.Errorf("export %s: %w", ec.Name, err)
	}
	fmt.Fprintf(stdout, "export %s: the data key is now locked by %s (%s); the old key no longer opens it.\nBefore the next start, %s.\n",
		ec.Name, newCred, name, update)
	return nil
}
