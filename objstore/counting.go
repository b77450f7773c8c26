package objstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Counting wraps a Store and counts requests, failures and bytes by
// operation, for statistics and metrics. Counters are atomic; reading them
// never blocks the data path. An optional LatencyObserver also receives the
// duration of every request (for latency histograms).
type Counting struct {
	inner   Store
	ops     [numOps]opCounters
	observe LatencyObserver
}

// LatencyObserver receives the duration of one request and its error (nil
// on success). It is called on the request's goroutine: it must be fast and
// safe for concurrent use.
type LatencyObserver func(op Op, d time.Duration, err error)

type opCounters struct {
	requests, failures, bytesRead, bytesWritten atomic.Int64
}

// OpStats are the counters of one operation.
type OpStats struct {
	// Requests counts calls, successful or not.
	Requests int64
	// Failures counts calls that returned an error other than ErrNotFound
	// and ErrPreconditionFailed (those are answers, not failures).
	Failures int64
	// BytesRead counts object bytes returned by Get and GetRange.
	BytesRead int64
	// BytesWritten counts object bytes sent by successful Put and PutIfAbsent.
	BytesWritten int64
}

// Stats is a snapshot of a Counting store's counters, indexed by Op.
type Stats [NumOps]OpStats

// Total sums the counters of every operation.
func (s Stats) Total() OpStats {
	var t OpStats
	for _, o := range s {
		t.Requests += o.Requests
		t.Failures += o.Failures
		t.BytesRead += o.BytesRead
		t.BytesWritten += o.BytesWritten
	}
	return t
}

var _ Store = (*Counting)(nil)

// NewCounting returns a counting wrapper around inner.
func NewCounting(inner Store) *Counting { return &Counting{inner: inner} }

// NewCountingObserved returns a counting wrapper around inner that also
// reports every request's duration to observe (which may be nil).
func NewCountingObserved(inner Store, observe LatencyObserver) *Counting {
	return &Counting{inner: inner, observe: observe}
}

// Stats returns a snapshot of the counters.
func (c *Counting) Stats() Stats {
	var s Stats
	for i := range c.ops {
		o := &c.ops[i]
		s[i] = OpStats{
			Requests:     o.requests.Load(),
			Failures:     o.failures.Load(),
			BytesRead:    o.bytesRead.Load(),
			BytesWritten: o.bytesWritten.Load(),
		}
	}
	return s
}

// Inner returns the wrapped store.
func (c *Counting) Inner() Store { return c.inner }

func (c *Counting) count(op Op, start time.Time, read, written int, err error) {
	if c.observe != nil {
		c.observe(op, time.Since(start), err)
	}
	o := &c.ops[op]
	o.requests.Add(1)
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPreconditionFailed) {
		o.failures.Add(1)
	}
	o.bytesRead.Add(int64(read))
	if err == nil {
		o.bytesWritten.Add(int64(written))
	}
}

// Get counts and forwards.
func (c *Counting) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	data, err := c.inner.Get(ctx, key)
	c.count(OpGet, start, len(data), 0, err)
	return data, err
}

// GetRange counts and forwards.
func (c *Counting) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	start := time.Now()
	data, err := c.inner.GetRange(ctx, key, off, n)
	c.count(OpGetRange, start, len(data), 0, err)
	return data, err
}

// Head counts and forwards.
func (c *Counting) Head(ctx context.Context, key string) (ObjectInfo, error) {
	start := time.Now()
	info, err := c.inner.Head(ctx, key)
	c.count(OpHead, start, 0, 0, err)
	return info, err
}

// Put counts and forwards.
func (c *Counting) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := c.inner.Put(ctx, key, data)
	c.count(OpPut, start, 0, len(data), err)
	return err
}

// PutIfAbsent counts and forwards.
func (c *Counting) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := c.inner.PutIfAbsent(ctx, key, data)
	c.count(OpPutIfAbsent, start, 0, len(data), err)
	return err
}

// Delete counts and forwards.
func (c *Counting) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := c.inner.Delete(ctx, key)
	c.count(OpDelete, start, 0, 0, err)
	return err
}

// List counts and forwards.
func (c *Counting) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	start := time.Now()
	page, err := c.inner.List(ctx, prefix, opts)
	c.count(OpList, start, 0, 0, err)
	return page, err
}
