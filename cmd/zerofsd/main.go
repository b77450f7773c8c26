// Command zerofsd serves filesystems kept in object storage over NFSv3.
//
//	zerofsd run -c zerofs.toml            serve every export of the config (the default subcommand)
//	zerofsd check-config -c zerofs.toml [-q]   validate a config and print what it would serve (-q: nothing when valid)
//	zerofsd fsck -c zerofs.toml --export NAME [--checkpoint N]   check one export's filesystem, or a checkpoint of it (read-only)
//	zerofsd du -c zerofs.toml --export NAME     live file data against what the bucket stores (read-only)
//	zerofsd checkpoint create|list|delete|restore -c zerofs.toml --export NAME [--name N] [--undo U]
//	zerofsd journal list|extract -c zerofs.toml --export NAME [--tail T]
//	zerofsd key rotate -c zerofs.toml --export NAME (--new-key-file PATH | --new-passphrase-env VAR)
//	zerofsd version
//
// Every command but version takes the config file as -c PATH or --config PATH
// (default /etc/zerofs/zerofs.toml); `zerofsd COMMAND -h` lists its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks errors that should print the usage text too.
var errUsage = errors.New("usage")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "serve every export of the config over NFSv3", runServe},
		{"check-config", "validate a config file and print the exports it declares", runCheckConfig},
		{"fsck", "check the consistency of one export's filesystem", runFsck},
		{"du", "report one export's live file data against the bytes its store holds", runDu},
		{"checkpoint", "create, list, delete or restore checkpoints (snapshots) of an export", runCheckpoint},
		{"journal", "list or extract local journal tails that recovery set aside", runJournal},
		{"key", "rotate the key or passphrase of an encrypted export", runKey},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		usage(stdout)
		return 0
	}
	name := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if err := c.run(ctx, args, stdout, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0 // the flag set has printed the command's flags
			}
			if errors.Is(err, errUsage) {
				usage(stderr)
			}
			fmt.Fprintf(stderr, "zerofsd %s: %v\n", name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "zerofsd: unknown command %q\n", name)
	usage(stderr)
	return 2
}

// isHelp reports whether arg asks for the command list.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: zerofsd <command> [flags]   (default command: run)")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
}
