// Package workload defines the key-value benchmarks that bench/lsmbench runs
// on our lsm package and bench/pebblebench on Pebble, so both print the same
// table: unawaited and awaited puts, point gets from the memtable, from
// cached SSTs and cold, full scans, and object-store requests per 1,000
// writes where the engine can count them.
package workload

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Engine is one database under test.
type Engine interface {
	Put(ctx context.Context, key, value []byte, durable bool) error
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Scan visits every key in order and returns the bytes seen.
	Scan(ctx context.Context) (int64, error)
	// FlushToSST moves everything written into SSTs (memtable flush and,
	// where possible, a full compaction).
	FlushToSST(ctx context.Context) error
	// Requests is the number of object-store requests so far (-1 if the
	// engine has no object store).
	Requests() int64
	Close(ctx context.Context) error
}

// Opener opens a fresh, empty engine; cold asks for one without block
// cache (reads go to the store or disk every time).
type Opener func(ctx context.Context, name string, cold bool) (Engine, error)

// Config sizes the workloads.
type Config struct {
	Keys           int           // keys loaded for the read workloads
	PutOps         int           // unawaited puts per put workload
	AwaitedFor     time.Duration // how long the awaited-writers workload runs
	AwaitedWriters int
	GetOps         int
}

// Result is one line of the table.
type Result struct {
	Name      string
	Ops       int64
	Elapsed   time.Duration
	Bytes     int64
	Requests  int64 // store requests during the run (-1 unknown)
	PerWrites bool  // report requests per 1,000 writes
}

func (r Result) opsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// Key builds a 16-byte key: a scrambled half (random order) and the index.
func Key(dst []byte, i uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], i*0x9E3779B97F4A7C15)
	return binary.BigEndian.AppendUint64(dst, i)
}

// Run runs every workload, each on a fresh engine.
func Run(ctx context.Context, open Opener, cfg Config, progress io.Writer) ([]Result, error) {
	var results []Result
	add := func(r Result, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		results = append(results, r)
		fmt.Fprintf(progress, "  %-34s %12.0f ops/s\n", r.Name, r.opsPerSec())
		return nil
	}
	for _, size := range []int{100, 4096} {
		if err := add(puts(ctx, open, cfg, size)); err != nil {
			return results, err
		}
	}
	for _, size := range []int{100, 4096} {
		if err := add(awaited(ctx, open, cfg, size)); err != nil {
			return results, err
		}
	}
	for _, where := range []string{"memtable", "cached SSTs", "cold SSTs"} {
		if err := add(gets(ctx, open, cfg, where)); err != nil {
			return results, err
		}
	}
	if err := add(scan(ctx, open, cfg)); err != nil {
		return results, err
	}
	return results, nil
}

func requestsSince(e Engine, before int64) int64 {
	if before < 0 {
		return -1
	}
	return e.Requests() - before
}

func puts(ctx context.Context, open Opener, cfg Config, size int) (Result, error) {
	r := Result{Name: fmt.Sprintf("put %dB unawaited", size), PerWrites: true}
	e, err := open(ctx, fmt.Sprintf("put-%d", size), false)
	if err != nil {
		return r, err
	}
	defer e.Close(ctx)
	value := make([]byte, size)
	key := make([]byte, 0, 16)
	before := e.Requests()
	start := time.Now()
	for i := 0; i < cfg.PutOps; i++ {
		if err := e.Put(ctx, Key(key, uint64(i)), value, false); err != nil {
			return r, err
		}
	}
	r.Elapsed = time.Since(start)
	r.Ops = int64(cfg.PutOps)
	r.Bytes = r.Ops * int64(size+16)
	r.Requests = requestsSince(e, before)
	return r, nil
}

func awaited(ctx context.Context, open Opener, cfg Config, size int) (Result, error) {
	r := Result{Name: fmt.Sprintf("put %dB awaited, %d writers", size, cfg.AwaitedWriters), PerWrites: true}
	e, err := open(ctx, fmt.Sprintf("awaited-%d", size), false)
	if err != nil {
		return r, err
	}
	defer e.Close(ctx)
	value := make([]byte, size)
	var n atomic.Uint64
	var firstErr atomic.Pointer[error]
	before := e.Requests()
	start := time.Now()
	deadline := start.Add(cfg.AwaitedFor)
	var wg sync.WaitGroup
	for w := 0; w < cfg.AwaitedWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, 0, 16)
			for time.Now().Before(deadline) {
				if err := e.Put(ctx, Key(key, n.Add(1)), value, true); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return r, *p
	}
	r.Elapsed = time.Since(start)
	r.Ops = int64(n.Load())
	r.Bytes = r.Ops * int64(size+16)
	r.Requests = requestsSince(e, before)
	return r, nil
}

func load(ctx context.Context, e Engine, keys int) error {
	value := make([]byte, 100)
	key := make([]byte, 0, 16)
	for i := 0; i < keys; i++ {
		if err := e.Put(ctx, Key(key, uint64(i)), value, false); err != nil {
			return err
		}
	}
	return nil
}

func gets(ctx context.Context, open Opener, cfg Config, where string) (Result, error) {
	r := Result{Name: "get 100B from " + where}
	e, err := open(ctx, "get-"+where, where == "cold SSTs")
	if err != nil {
		return r, err
	}
	defer e.Close(ctx)
	if err := load(ctx, e, cfg.Keys); err != nil {
		return r, err
	}
	if where != "memtable" {
		if err := e.FlushToSST(ctx); err != nil {
			return r, err
		}
	}
	key := make([]byte, 0, 16)
	if where == "cached SSTs" {
		for i := 0; i < cfg.Keys; i++ { // warm the cache
			if _, err := e.Get(ctx, Key(key, uint64(i))); err != nil {
				return r, err
			}
		}
	}
	before := e.Requests()
	ops := cfg.GetOps
	if where == "cold SSTs" {
		ops = max(ops/20, 1000)
	}
	const workers = 2
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			key := make([]byte, 0, 16)
			for i := 0; i < ops/workers; i++ {
				if _, err := e.Get(ctx, Key(key, uint64(rng.IntN(cfg.Keys)))); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}(uint64(w))
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return r, *p
	}
	r.Elapsed = time.Since(start)
	r.Ops = int64(ops / workers * workers)
	r.Requests = requestsSince(e, before)
	return r, nil
}

func scan(ctx context.Context, open Opener, cfg Config) (Result, error) {
	r := Result{Name: "scan (SSTs)"}
	e, err := open(ctx, "scan", false)
	if err != nil {
		return r, err
	}
	defer e.Close(ctx)
	if err := load(ctx, e, cfg.Keys); err != nil {
		return r, err
	}
	if err := e.FlushToSST(ctx); err != nil {
		return r, err
	}
	start := time.Now()
	for time.Since(start) < time.Second || r.Ops == 0 {
		n, err := e.Scan(ctx)
		if err != nil {
			return r, err
		}
		r.Bytes += n
		r.Ops++
	}
	r.Elapsed = time.Since(start)
	r.Ops = r.Bytes / 116 // entries
	r.Requests = -1
	return r, nil
}

// Print writes the results as a table.
func Print(w io.Writer, title string, results []Result) {
	fmt.Fprintf(w, "%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tops/s\tMB/s\tstore requests\t")
	for _, r := range results {
		mbs := "-"
		if r.Bytes > 0 {
			mbs = fmt.Sprintf("%.1f", float64(r.Bytes)/1e6/r.Elapsed.Seconds())
		}
		req := "-"
		if r.Requests >= 0 {
			if r.PerWrites {
				req = fmt.Sprintf("%.2f per 1000 writes", float64(r.Requests)*1000/float64(max(r.Ops, 1)))
			} else {
				req = fmt.Sprintf("%.3f per op", float64(r.Requests)/float64(max(r.Ops, 1)))
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t\n", r.Name, r.opsPerSec(), mbs, req)
	}
	tw.Flush()
}
