// Command pebblebench runs bench/lsmbench's workloads on Pebble over a
// local directory, as the reference for our lsm package. It lives in its
// own module so that the main module does not depend on Pebble.
//
// "Awaited" puts are Pebble writes with Sync: true (fsync of its WAL), the
// local-disk analogue of our WAL object PUT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/zerofs-go/zerofsd/bench/lsmbench/workload"
)

func main() {
	dir := flag.String("dir", "", "directory for the databases (default: a temporary one)")
	keys := flag.Int("keys", 200000, "keys loaded for the read workloads")
	puts := flag.Int("puts", 500000, "unawaited puts per put workload")
	awaitedFor := flag.Duration("awaited-for", 3*time.Second, "duration of the awaited-writers workloads")
	writers := flag.Int("writers", 64, "concurrent awaited writers")
	getOps := flag.Int("gets", 1000000, "point gets per get workload")
	flag.Parse()
	if err := run(*dir, workload.Config{
		Keys: *keys, PutOps: *puts, AwaitedFor: *awaitedFor, AwaitedWriters: *writers, GetOps: *getOps,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "pebblebench:", err)
		os.Exit(1)
	}
}

func run(dir string, cfg workload.Config) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "pebblebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	open := func(ctx context.Context, name string, cold bool) (workload.Engine, error) {
		// Configured like our lsm defaults: 64 MiB memtable and block
		// cache, bloom filters (10 bits per key) on every level.
		opts := &pebble.Options{MemTableSize: 64 << 20}
		cacheBytes := int64(64 << 20)
		if cold {
			cacheBytes = 0
		}
		opts.Cache = pebble.NewCache(cacheBytes)
		defer opts.Cache.Unref()
		opts.Levels = make([]pebble.LevelOptions, 7)
		for i := range opts.Levels {
			opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		}
		db, err := pebble.Open(filepath.Join(dir, name), opts)
		if err != nil {
			return nil, err
		}
		return engine{db}, nil
	}
	fmt.Fprintf(os.Stderr, "pebblebench: local disk, %d keys\n", cfg.Keys)
	results, err := workload.Run(ctx, open, cfg, os.Stderr)
	if err != nil {
		return err
	}
	workload.Print(os.Stdout, "pebble v2 on local disk (reference)", results)
	return nil
}

type engine struct{ db *pebble.DB }

func (e engine) Put(_ context.Context, key, value []byte, durable bool) error {
	wo := pebble.NoSync
	if durable {
		wo = pebble.Sync
	}
	return e.db.Set(key, value, wo)
}

func (e engine) Get(_ context.Context, key []byte) ([]byte, error) {
	v, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

func (e engine) Scan(_ context.Context) (int64, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n += int64(len(it.Key()) + len(it.Value()))
	}
	return n, it.Close()
}

func (e engine) FlushToSST(_ context.Context) error {
	if err := e.db.Flush(); err != nil {
		return err
	}
	return e.db.Compact([]byte{0}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true)
}

func (e engine) Requests() int64 { return -1 }

func (e engine) Close(context.Context) error { return e.db.Close() }
