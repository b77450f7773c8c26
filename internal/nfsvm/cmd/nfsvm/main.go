// Command nfsvm runs a shell script on a real Linux kernel NFS client (see
// package internal/nfsvm):
//
//	go run ./internal/nfsvm/cmd/nfsvm setup
//	go run ./internal/nfsvm/cmd/nfsvm run -port P [-export /team-a] [-fwd PORT]... [-out DIR] SCRIPT
//
// setup installs what the harness needs with apt-get and builds the boot
// image; run prints the script's output as it runs and exits with its
// status (125 if it did not finish). $ZEROFS_NFSVM_CACHE names the image
// cache, $ZEROFS_NFSVM_NET the network (tap or user).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch os.Args[1] {
	case "setup":
		fs := flag.NewFlagSet("setup", flag.ExitOnError)
		cache := fs.String("cache", envOr(nfsvm.CacheEnv, nfsvm.DefaultCache), "boot image cache")
		fs.Parse(os.Args[2:])
		start := time.Now()
		vm, err := nfsvm.Setup(ctx, nfsvm.SetupOptions{Cache: *cache, Install: true, Log: log})
		if err != nil {
			log.Error("setup failed", "err", err)
			os.Exit(1)
		}
		log.Info("nfsvm ready", "kernel", vm.Version, "initrd", vm.Initrd, "took", time.Since(start).Round(time.Millisecond))
	case "run":
		os.Exit(run(ctx, log, os.Args[2:]))
	default:
		usage()
	}
}

func run(ctx context.Context, log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var o nfsvm.RunOptions
	var fwd ports
	cache := fs.String("cache", envOr(nfsvm.CacheEnv, nfsvm.DefaultCache), "boot image cache")
	network := fs.String("net", os.Getenv(nfsvm.NetworkEnv), "network: tap or user (default: tap where possible)")
	timeout := fs.Duration("timeout", 15*time.Minute, "bound on the whole run")
	console := fs.Bool("console", false, "copy the guest kernel's console to standard error")
	fs.IntVar(&o.Port, "port", 2049, "the NFS server's port on 127.0.0.1 (NFS and MOUNT); 0 mounts nothing")
	fs.StringVar(&o.Export, "export", "/", "the export mounted at $NFS")
	fs.StringVar(&o.MountOpts, "opts", "", "mount options appended to the defaults")
	fs.StringVar(&o.OutDir, "out", "", "host directory shared as $OUT")
	fs.Var(&fwd, "fwd", "another port of 127.0.0.1 the guest reaches at $NFS_HOST (repeatable)")
	fs.IntVar(&o.MemoryMB, "mem", 2048, "guest memory in MiB")
	fs.IntVar(&o.CPUs, "cpus", 2, "guest CPUs")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: nfsvm run [flags] SCRIPT")
		fs.PrintDefaults()
		return 2
	}
	script, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		log.Error("reading the script", "err", err)
		return 2
	}
	o.Forward = fwd
	o.Output = os.Stdout
	o.Log = log
	if *console {
		o.Console = os.Stderr
	}
	vm, err := nfsvm.Setup(ctx, nfsvm.SetupOptions{Cache: *cache, Log: log})
	if err != nil {
		log.Error("nfsvm is not ready", "err", err)
		return 125
	}
	vm.Network = nfsvm.Network(*network)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := vm.Run(ctx, string(script), o)
	var exit *nfsvm.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.Code
	case err != nil:
		log.Error("run failed", "result", res.String(), "err", err)
		return 125
	}
	return 0
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: nfsvm setup [-cache DIR] | nfsvm run [flags] SCRIPT")
	os.Exit(2)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ports is a repeatable -fwd flag.
type ports []int

func (p *ports) String() string {
	s := make([]string, len(*p))
	for i, n := range *p {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (p *ports) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("not a port: %q", v)
	}
	*p = append(*p, n)
	return nil
}
