// Command lsmbench measures the lsm package on an object store and prints a
// table: puts (unawaited, and awaited by concurrent writers), point gets
// from the memtable, cached SSTs and cold, scans, and object-store requests.
//
//	lsmbench [-store memory|local] [-dir DIR] [-keys N] [-puts N]
//
// The same workloads run on Pebble with bench/pebblebench, for reference.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/zerofs-go/zerofsd/bench/lsmbench/workload"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
)

func main() {
	storeKind := flag.String("store", "local", "object store: memory or local")
	dir := flag.String("dir", "", "directory for the local store (default: a temporary one)")
	keys := flag.Int("keys", 200000, "keys loaded for the read workloads")
	puts := flag.Int("puts", 500000, "unawaited puts per put workload")
	awaitedFor := flag.Duration("awaited-for", 3*time.Second, "duration of the awaited-writers workloads")
	writers := flag.Int("writers", 64, "concurrent awaited writers")
	getOps := flag.Int("gets", 1000000, "point gets per get workload")
	flag.Parse()
	if err := run(*storeKind, *dir, workload.Config{
		Keys: *keys, PutOps: *puts, AwaitedFor: *awaitedFor, AwaitedWriters: *writers, GetOps: *getOps,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "lsmbench:", err)
		os.Exit(1)
	}
}

func run(storeKind, dir string, cfg workload.Config) error {
	ctx := context.Background()
	if dir == "" && storeKind == "local" {
		d, err := os.MkdirTemp("", "lsmbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(ctx context.Context, name string, cold bool) (workload.Engine, error) {
		var store objstore.Store
		switch storeKind {
		case "memory":
			store = objstore.NewMemory()
		case "local":
			s, err := objstore.NewLocal(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			store = s
		default:
			return nil, fmt.Errorf("unknown store %q", storeKind)
		}
		opts := lsm.Options{Logger: logger, GCInterval: -1}
		if cold {
			opts.BlockCacheBytes = -1
		}
		db, err := lsm.Open(ctx, store, opts)
		if err != nil {
			return nil, err
		}
		return engine{db}, nil
	}
	fmt.Fprintf(os.Stderr, "lsmbench: %s store, %d keys\n", storeKind, cfg.Keys)
	results, err := workload.Run(ctx, open, cfg, os.Stderr)
	if err != nil {
		return err
	}
	workload.Print(os.Stdout, fmt.Sprintf("zerofsd lsm on the %s object store", storeKind), results)
	return nil
}

type engine struct{ db *lsm.DB }

func (e engine) Put(ctx context.Context, key, value []byte, durable bool) error {
	return e.db.Put(ctx, key, value, lsm.WriteOptions{AwaitDurable: durable})
}

func (e engine) Get(ctx context.Context, key []byte) ([]byte, error) { return e.db.Get(ctx, key) }

func (e engine) Scan(ctx context.Context) (int64, error) {
	it, err := e.db.NewIterator(ctx, nil, nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for it.Next() {
		n += int64(len(it.Key()) + len(it.Value()))
	}
	return n, it.Close()
}

func (e engine) FlushToSST(ctx context.Context) error {
	if err := e.db.FlushMemtable(ctx); err != nil {
		return err
	}
	_, err := e.db.Compact(ctx, true)
	return err
}

func (e engine) Requests() int64 { return e.db.Stats().Requests.Total().Requests }

func (e engine) Close(ctx context.Context) error { return e.db.Close(ctx) }
