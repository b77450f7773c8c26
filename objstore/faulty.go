package objstore

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
)

// ErrInjected is the default error of an injected fault.
var ErrInjected = errors.New("injected fault")

// ErrCrashed is returned by every call to a Faulty store after its crash
// switch is on.
var ErrCrashed = errors.New("injected crash: store unavailable")

// FaultAction is what an injected fault does to a matching call.
type FaultAction int

const (
	// FailBefore returns the fault's error without calling the inner store:
	// a write is not applied.
	FailBefore FaultAction = iota
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
	Ops []Op
	// Key selects keys (for List: the prefix); nil means every key.
	Key func(key string) bool
	// Action is what happens to a matching call (default FailBefore).
	Action FaultAction
	// Err is the error returned (wrapped, with op and key); nil means
	// ErrInjected. Use ErrNotFound, a context error, etc. to imitate those.
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

// FaultyOptions configures NewFaulty.
type FaultyOptions struct {
	// Seed seeds the generator behind Fault.Probability (default 0, which is
	// a valid seed): equal seeds and call sequences give equal faults.
	Seed uint64
}

// Faulty wraps a Store and injects faults for tests: errors, latency, torn
// writes and a crash switch that fails every later call, as if the process
// had died. It counts calls by operation. Safe for concurrent use; with
// concurrent callers the order in which calls meet the faults is theirs.
type Faulty struct {
	inner   Store
	crashed atomic.Bool
	calls   [numOps]atomic.Int64
	fired   [numOps]atomic.Int64

	mu     sync.Mutex
	rng    *rand.Rand
	faults []*FaultHandle
}

// FaultHandle is an injected fault, to inspect or remove.
type FaultHandle struct {
	fault   Fault
	f       *Faulty
	matched int // matching calls seen; guarded by f.mu
	fired   int // guarded by f.mu
}

var _ Store = (*Faulty)(nil)

// NewFaulty returns a fault-injecting wrapper around inner, with no fault.
func NewFaulty(inner Store, opts FaultyOptions) *Faulty {
	return &Faulty{inner: inner, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
}

// Inner returns the wrapped store (to inspect what really landed).
func (f *Faulty) Inner() Store { return f.inner }

// Inject adds a fault; faults are tried in the order they were added, and
// the first that fires decides the call.
func (f *Faulty) Inject(fault Fault) *FaultHandle {
	h := &FaultHandle{fault: fault, f: f}
	f.mu.Lock()
	f.faults = append(f.faults, h)
	f.mu.Unlock()
	return h
}

// FailNext is shorthand for failing the next n calls of op (before they
// apply) with ErrInjected.
func (f *Faulty) FailNext(op Op, n int) *FaultHandle {
	return f.Inject(Fault{Ops: []Op{op}, Times: n})
}

// Remove takes the fault out.
func (h *FaultHandle) Remove() {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.faults = slices.DeleteFunc(h.f.faults, func(x *FaultHandle) bool { return x == h })
}

// Fired returns how many calls the fault has hit.
func (h *FaultHandle) Fired() int {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.fired
}

// ClearFaults removes every fault (the crash switch stays as it is).
func (f *Faulty) ClearFaults() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

// Crash turns the crash switch on: every later call fails with ErrCrashed.
// Calls already past the switch complete.
func (f *Faulty) Crash() { f.crashed.Store(true) }

// Crashed reports whether the crash switch is on.
func (f *Faulty) Crashed() bool { return f.crashed.Load() }

// Restart turns the crash switch off (a new process on the same storage
// would use the inner store; this is for reusing the wrapper).
func (f *Faulty) Restart() { f.crashed.Store(false) }

// Calls returns how many calls of op were made, faulted or not.
func (f *Faulty) Calls(op Op) int64 { return f.calls[op].Load() }

// Injected returns how many calls of op were hit by a fault or the crash
// switch (DelayOnly faults included).
func (f *Faulty) Injected(op Op) int64 { return f.fired[op].Load() }

// pick returns the fault that fires for this call, or nil.
func (f *Faulty) pick(op Op, key string) *Fault {
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
func (f *Faulty) damage(action FaultAction, data []byte) []byte {
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
func (f *Faulty) do(ctx context.Context, op Op, key string, call func() error, damage func(FaultAction) error) error {
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
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	get := func() (err error) {
		data, err = f.inner.Get(ctx, key)
		return err
	}
	err := f.do(ctx, OpGet, key, get, func(a FaultAction) error {
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
func (f *Faulty) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	var data []byte
	get := func() (err error) {
		data, err = f.inner.GetRange(ctx, key, off, n)
		return err
	}
	err := f.do(ctx, OpGetRange, key, get, func(a FaultAction) error {
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
func (f *Faulty) Head(ctx context.Context, key string) (ObjectInfo, error) {
	var info ObjectInfo
	err := f.do(ctx, OpHead, key, func() (err error) {
		info, err = f.inner.Head(ctx, key)
		return err
	}, nil)
	if err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// Put forwards unless a fault fires.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, OpPut, key, func() error { return f.inner.Put(ctx, key, data) },
		func(a FaultAction) error { return f.inner.Put(ctx, key, f.damage(a, data)) })
}

// PutIfAbsent forwards unless a fault fires.
func (f *Faulty) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return f.do(ctx, OpPutIfAbsent, key, func() error { return f.inner.PutIfAbsent(ctx, key, data) },
		func(a FaultAction) error { return f.inner.PutIfAbsent(ctx, key, f.damage(a, data)) })
}

// Delete forwards unless a fault fires.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	return f.do(ctx, OpDelete, key, func() error { return f.inner.Delete(ctx, key) }, nil)
}

// List forwards unless a fault fires; faults see the prefix as the key.
func (f *Faulty) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	var page ListPage
	err := f.do(ctx, OpList, prefix, func() (err error) {
		page, err = f.inner.List(ctx, prefix, opts)
		return err
	}, nil)
	if err != nil {
		return ListPage{}, err
	}
	return page, nil
}
