package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/objstore"
)

// ErrInjected is the default error of an injected fault.
var ErrInjected = errors.New("injected fault")

// ErrCrashed is returned by every call to a Store after its crash
// switch is on.
var ErrCrashed = errors.New("injected crash: store unavailable")

// Action is what an injected fault does to a matching call.
type Action int

const (
	// FailBefore returns the fault's error without calling the inner store:
	// a write is not applied.
	FailBefore Action = iota
	// FailAfter calls the inner store, then returns the fault's error even
	// if the call succeeded: a write is applied but its answer is lost (a
	// "torn" write, as after a timeout).
	FailAfter
	// DelayOnly only waits for the fault's Latency, then calls the store.
	DelayOnly
	// CrashBefore turns the crash switch on and fails the call unapplied.
	CrashBefore
	// CrashAfter calls the inner store, then turns the crash switch on and
	// returns ErrCrashed: the last write landed, its answer did not.
	CrashAfter
	// Corrupt flips one byte (at a seeded random position) of the data a
	// Get or GetRange returns, or of the data a Put or PutIfAbsent stores,
	// and reports success: bit rot, for testing checksums. Empty data and
	// other operations are left alone.
	Corrupt
	// Truncate drops the second half of the data a Get or GetRange returns,
	// or a Put or PutIfAbsent stores, and reports success: a short object.
	Truncate
)

// Fault describes faults to inject into matching calls.
type Fault struct {
	// Ops selects the operations; empty means every operation.
	Ops []objstore.Op
	// Key selects keys (for List: the prefix); nil means every key.
	Key func(key string) bool
	// Action is what happens to a matching call (default FailBefore).
	Action Action
	// Err is the error returned (wrapped, with op and key); nil means
	// ErrInjected. Use objstore.ErrNotFound, a context error, etc. to imitate those.
	Err error
	// Skip lets the first Skip matching calls through untouched.
	Skip int
	// Times is how many times the fault fires; 0 means without limit.
	Times int
	// Probability is the chance that an eligible call is hit, drawn from
	// the store's seeded generator; 0 means 1 (always).
	Probability float64
	// Latency is a delay before the call (all actions); it honours ctx.
	Latency time.Duration
}

// Options configures New.
type Options struct {
	// Seed seeds the generator behind Fault.Probability (default 0, which is
	// a valid seed): equal seeds and call sequences give equal faults.
	Seed uint64
}

// Store wraps a objstore.Store and injects faults for tests: errors, latency, torn
// writes and a crash switch that fails every later call, as if the process
// had died. It counts calls by operation. Safe for concurrent use; with
// concurrent callers the order in which calls meet the faults is theirs.
type Store struct {
	inner   objstore.Store
	crashed atomic.Bool
	calls   [objstore.NumOps]atomic.Int64
	fired   [objstore.NumOps]atomic.Int64

	mu     sync.Mutex
	rng    *rand.Rand
	faults []*Handle
}

// Handle is an injected fault, to inspect or remove.
type Handle struct {
	fault   Fault
	f       *Store
	matched int // matching calls seen; guarded by f.mu
	fired   int // guarded by f.mu
}

var _ objstore.Store = (*Store)(nil)

// New returns a fault-injecting wrapper around inner, with no fault.
func New(inner objstore.Store, opts Options) *Store {
	return &Store{inner: inner, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
}

// Inner returns the wrapped store (to inspect what really landed).
func (f *Store) Inner() objstore.Store { return f.inner }

// Inject adds a fault; faults are tried in the order they were added, and
// the first that fires decides the call.
func (f *Store) Inject(fault Fault) *Handle {
	h := &Handle{fault: fault, f: f}
	f.mu.Lock()
	f.faults = append(f.faults, h)
	f.mu.Unlock()
	return h
}

// FailNext is shorthand for failing the next n calls of op (before they
// apply) with ErrInjected.
func (f *Store) FailNext(op objstore.Op, n int) *Handle {
	return f.Inject(Fault{Ops: []objstore.Op{op}, Times: n})
}

// Remove takes the fault out.
func (h *Handle) Remove() {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.faults = slices.DeleteFunc(h.f.faults, func(x *Handle) bool { return x == h })
}

// Fired returns how many calls the fault has hit.
func (h *Handle) Fired() int {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.fired
}

// ClearFaults removes every fault (the crash switch stays as it is).
func (f *Store) ClearFaults() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

// Crash turns the crash switch on: every later call fails with ErrCrashed.
// Calls already past the switch complete.
func (f *Store) Crash() { f.crashed.Store(true) }

// Crashed reports whether the crash switch is on.
func (f *Store) Crashed() bool { return f.crashed.Load() }

// Restart turns the crash switch off (a new process on the same storage
// would use the inner store; this is for reusing the wrapper).
func (f *Store) Restart() { f.crashed.Store(false) }

// Calls returns how many calls of op were made, faulted or not.
func (f *Store) Calls(op objstore.Op) int64 { return f.calls[op].Load() }

// Injected returns how many calls of op were hit by a fault or the crash
// switch (DelayOnly faults included).
func (f *Store) Injected(op objstore.Op) int64 { return f.fired[op].Load() }

// pick returns the fault that fires for this call, or nil.
func (f *Store) pick(op objstore.Op, key string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.faults {
		fl := &h.fault
		if len(fl.Ops) > 0 && !slices.Contains(fl.Ops, op) {
			continue
		}
		if fl.Key != nil && !fl.Key(key) {
			continue
		}
		h.matched++
		if h.matched <= fl.Skip {
			continue
		}
		if fl.Times > 0 && h.fired >= fl.Times {
			continue
		}
		if fl.Probability > 0 && fl.Probability < 1 && f.rng.Float64() >= fl.Probability {
			continue
		}
		h.fired++
		return fl
	}
	return nil
}

// damage returns a damaged copy of data for a Corrupt or Truncate fault.
func (f *Store) damage(action Action, data []byte) []byte {
	if len(data) == 0 {
		return data
	}
	out := append([]byte{}, data...)
	if action == Truncate {
		return out[:len(out)/2]
	}
	f.mu.Lock()
	i := f.rng.IntN(len(out))
	bit := byte(1) << f.rng.IntN(8)
	f.mu.Unlock()
	out[i] ^= bit
	return out
}

// do runs one call through the crash switch and the faults. damage, when
// not nil, is called for Corrupt and Truncate faults instead of call.
func (f *Store) do(ctx context.Context, op objstore.Op, key string, call func() error, damage func(Action) error) error {
	f.calls[op].Add(1)
	if f.crashed.Load() {
		f.fired[op].Add(1)
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrCrashed)
	}
	fl := f.pick(op, key)
	if fl == nil {
		return call()
	}
	f.fired[op].Add(1)
	if err := retry.Sleep(ctx, fl.Latency); err != nil {
		return fmt.Errorf("objstore: %s %q: %w", op, key, err)
	}
	injected := fl.Err
	if injected == nil {
		injected = ErrInjected
	}
	switch fl.Action {
	case DelayOnly:
		return call()
	case Corrupt, Truncate:
		if damage == nil {
			return call()
		}
		return damage(fl.Action)
	case FailAfter:
		_ = call()
	case CrashBefore:
		f.Crash()
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrCrashed)
	case CrashAfter:
		_ = call()
		f.Crash()
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrCrashed)
	}
	return fmt.Errorf("objstore: %s %q: %w", op, key, injected)
}

// Get forwards unless a fault fires.
func (f *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	get := func() (err error) {
		data, err = f.inner.Get(ctx, key)
		return err
	}
	err := f.do(ctx, objstore.OpGet, key, get, func(a Action) error {
		if err := get(); err != nil {
			return err
		}
		data = f.damage(a, data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// GetRange forwards unless a fault fires.
func (f *Store) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	var data []byte
	get := func() (err error) {
		data, err = f.inner.GetRange(ctx, key, off, n)
		return err
	}
	err := f.do(ctx, objstore.OpGetRange, key, get, func(a Action) error {
		if err := get(); err != nil {
			return err
		}
		data = f.damage(a, data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// Head forwards unless a fault fires.
func (f *Store) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	var info objstore.ObjectInfo
	err := f.do(ctx, objstore.OpHead, key, func() (err error) {
		info, err = f.inner.Head(ctx, key)
		return err
	}, nil)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	return info, nil
}

// Put forwards unless a fault fires.
func (f *Store) Put(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, objstore.OpPut, key, func() error { return f.inner.Put(ctx, key, data) },
		func(a Action) error { return f.inner.Put(ctx, key, f.damage(a, data)) })
}

// PutIfAbsent forwards unless a fault fires.
func (f *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, objstore.OpPutIfAbsent, key, func() error { return f.inner.PutIfAbsent(ctx, key, data) },
		func(a Action) error { return f.inner.PutIfAbsent(ctx, key, f.damage(a, data)) })
}

// Delete forwards unless a fault fires.
func (f *Store) Delete(ctx context.Context, key string) error {
	return f.do(ctx, objstore.OpDelete, key, func() error { return f.inner.Delete(ctx, key) }, nil)
}

// List forwards unless a fault fires; faults see the prefix as the key.
func (f *Store) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	var page objstore.ListPage
	err := f.do(ctx, objstore.OpList, prefix, func() (err error) {
		page, err = f.inner.List(ctx, prefix, opts)
		return err
	}, nil)
	if err != nil {
		return objstore.ListPage{}, err
	}
	return page, nil
}
