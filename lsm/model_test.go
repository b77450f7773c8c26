package lsm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal/memfs"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

// modelOp is one acknowledged write of the model: a whole batch.
type modelOp []modelEntry

type modelEntry struct {
	key, value string
	del        bool
}

func applyOp(m map[string]string, op modelOp) {
	for _, e := range op {
		if e.del {
			delete(m, e.key)
		} else {
			m[e.key] = e.value
		}
	}
}

// modelRun drives a database with random operations and checks it against
// an in-memory map, crashing and reopening it along the way.
type modelRun struct {
	t     *testing.T
	seed  uint64
	r     *rand.Rand
	ctx   context.Context
	store *faultstore.Store
	opts  Options
	db    *DB
	// jfs is the journal's file system with local durability (else nil):
	// a crash is then a process crash or, at random, a machine crash that
	// loses (or tears) what the journal had not synced.
	jfs *memfs.FS

	base    map[string]string // verified state at the last (re)open
	log     []modelOp         // writes since then, in order
	durable int               // log[:durable] is guaranteed to survive
	current map[string]string // base + log

	crashes, reopens int
	// valueCompactions and relocated count the value compactions of every
	// instance so far and the bytes they moved.
	valueCompactions, relocated int64
	// armed is set while a crash fault waits for a matching store call;
	// errors are expected from then on until the crash is handled.
	armed bool
}

// tolerate reports whether err is expected because a crash is armed.
func (m *modelRun) tolerate(err error) bool { return err != nil && m.armed }

func (m *modelRun) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("seed %d: %s", m.seed, fmt.Sprintf(format, args...))
}

func (m *modelRun) key() string { return fmt.Sprintf("key-%04d", m.r.IntN(400)) }

func (m *modelRun) value() string {
	n := m.r.IntN(200)
	if m.r.IntN(20) == 0 {
		n = 3000 + m.r.IntN(3000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + m.r.IntN(26))
	}
	return string(b)
}

func (m *modelRun) write(op modelOp, await bool) {
	var b Batch
	for _, e := range op {
		if e.del {
			b.Delete([]byte(e.key))
		} else {
			b.Put([]byte(e.key), []byte(e.value))
		}
	}
	err := m.db.Write(m.ctx, &b, WriteOptions{AwaitDurable: await})
	if err != nil && !m.tolerate(err) {
		m.fatalf("Write: %v", err)
	}
	// A write that failed only waiting for durability is still applied; it
	// may or may not survive, like any unawaited write.
	if err == nil || !errors.Is(err, ErrClosed) {
		m.log = append(m.log, op)
		applyOp(m.current, op)
	}
	if await && err == nil {
		m.durable = len(m.log)
	}
}

func (m *modelRun) checkGet() {
	k := m.key()
	v, err := m.db.Get(m.ctx, []byte(k))
	if m.tolerate(err) && !errors.Is(err, ErrNotFound) {
		return
	}
	want, ok := m.current[k]
	switch {
	case !ok && !errors.Is(err, ErrNotFound):
		m.fatalf("Get(%s) = %q, %v; want ErrNotFound", k, v, err)
	case ok && (err != nil || string(v) != want):
		m.fatalf("Get(%s) = %d bytes, %v; want %d bytes", k, len(v), err, len(want))
	}
}

func (m *modelRun) checkScan() {
	var lower, upper []byte
	if m.r.IntN(2) == 0 {
		lower = []byte(m.key())
	}
	if m.r.IntN(2) == 0 {
		upper = []byte(m.key())
	}
	got := m.scan(lower, upper)
	if got == nil && m.armed {
		return
	}
	var want []string
	for _, k := range slices.Sorted(maps.Keys(m.current)) {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			want = append(want, k+"="+strconv.Itoa(len(m.current[k]))+":"+m.current[k][:min(8, len(m.current[k]))])
		}
	}
	if !slices.Equal(got, want) {
		m.fatalf("scan [%q,%q): got %d entries, want %d\n got %v\nwant %v", lower, upper, len(got), len(want), got, want)
	}
}

func (m *modelRun) scan(lower, upper []byte) []string {
	it, err := m.db.NewIterator(m.ctx, lower, upper)
	if err != nil {
		m.fatalf("NewIterator: %v", err)
	}
	var out []string
	for it.Next() {
		v := string(it.Value())
		out = append(out, string(it.Key())+"="+strconv.Itoa(len(v))+":"+v[:min(8, len(v))])
	}
	if err := it.Close(); err != nil {
		if m.tolerate(err) {
			return nil
		}
		m.fatalf("iterator: %v", err)
	}
	return out
}

func (m *modelRun) contents() map[string]string {
	it, err := m.db.NewIterator(m.ctx, nil, nil)
	if err != nil {
		m.fatalf("NewIterator: %v", err)
	}
	out := make(map[string]string)
	for it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		m.fatalf("iterator: %v", err)
	}
	return out
}

func (m *modelRun) open() {
	db, err := Open(m.ctx, m.store, m.opts)
	if err != nil {
		m.fatalf("Open: %v", err)
	}
	m.db = db
	got := m.contents()
	// The recovered state must be the state after some prefix of the
	// writes, at least as long as the durable part.
	state := maps.Clone(m.base)
	for _, op := range m.log[:m.durable] {
		applyOp(state, op)
	}
	p := m.durable
	for !maps.Equal(state, got) {
		if p == len(m.log) {
			m.fatalf("after reopen (%d crashes): state matches no prefix of the %d writes (durable: %d); %d keys recovered, %d expected at full log",
				m.crashes, len(m.log), m.durable, len(got), len(m.current))
		}
		applyOp(state, m.log[p])
		p++
	}
	m.base = got
	m.current = maps.Clone(got)
	m.log = nil
	m.durable = 0
}

// armCrash makes one of the next few writes to the store crash it, before
// or after the write lands, while background work is in flight.
func (m *modelRun) armCrash() {
	action := faultstore.CrashBefore
	if m.r.IntN(2) == 0 {
		action = faultstore.CrashAfter
	}
	m.store.Inject(faultstore.Fault{
		Ops:    []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent},
		Action: action,
		Skip:   m.r.IntN(4),
		Times:  1,
	})
	m.armed = true
}

// countValueGC adds the value compactions of the current instance.
func (m *modelRun) countValueGC() {
	m.valueCompactions += m.db.stats.valueCompactions.Load()
	m.relocated += m.db.stats.valueBytesRelocated.Load()
}

func (m *modelRun) crash() {
	m.crashes++
	m.countValueGC()
	m.store.Crash()
	m.store.ClearFaults()
	m.armed = false
	// Stop the abandoned instance's background work; nothing more reaches
	// the store.
	m.db.kill()
	if m.jfs != nil && m.r.IntN(2) == 0 {
		m.jfs.Crash(m.r.IntN(2) == 0)
	}
	m.store.Restart()
	m.open()
}

func (m *modelRun) closeAndReopen() {
	m.reopens++
	m.countValueGC()
	if err := m.db.Close(m.ctx); err != nil {
		m.fatalf("Close: %v", err)
	}
	m.durable = len(m.log)
	m.open()
	if !maps.Equal(m.base, m.current) {
		m.fatalf("clean reopen lost writes")
	}
}

func runModel(t *testing.T, inner objstore.Store, seed uint64, ops int) {
	runModelWith(t, inner, seed, ops, DurabilityBucket, nil)
}

// runModelWith is runModel with a durability mode and the options changed
// by tune (when not nil).
func runModelWith(t *testing.T, inner objstore.Store, seed uint64, ops int, durability Durability, tune func(*Options)) {
	ctx := context.Background()
	m := &modelRun{
		t: t, seed: seed, r: rand.New(rand.NewPCG(seed, 7)), ctx: ctx,
		store:   faultstore.New(inner, faultstore.Options{Seed: seed}),
		opts:    smallOptions(),
		base:    map[string]string{},
		current: map[string]string{},
	}
	if durability == DurabilityLocal {
		m.jfs = memfs.New(seed)
		m.opts.Durability = DurabilityLocal
		m.opts.JournalFS = m.jfs
		m.opts.JournalDir = "/journal"
		m.opts.JournalFileBytes = 8 << 10
		m.opts.ShipInterval = m.opts.FlushInterval // ship often: more interleavings
	}
	if tune != nil {
		tune(&m.opts)
	}
	m.opts.GCInterval = -1
	m.opts.GCMinAge = time.Nanosecond // only in-process protection keeps in-flight SSTs
	// Value separation: from every value in the SSTs to every value in the
	// WAL and value objects, with value compactions on the least garbage.
	m.opts.ValueThreshold = []int{-1, 1, 100, 4096}[m.r.IntN(4)]
	m.opts.ValueGCMinBytes = 1
	m.opts.ValueGarbageRatio = []float64{0.05, 0.25, 1}[m.r.IntN(3)]
	// Compression by the seed (not drawn, so a seed's operations stay
	// what they were): zstd compresses the values (random letters),
	// snappy mostly not, so its values are stored plain.
	m.opts.Compression = []compress.Codec{compress.None, compress.Snappy, compress.Zstd}[seed%3]
	t.Logf("seed %d: value threshold %d, value garbage ratio %v, compression %s", seed, m.opts.ValueThreshold, m.opts.ValueGarbageRatio, m.opts.Compression)
	m.open()
	for i := 0; i < ops; i++ {
		switch x := m.r.IntN(1000); {
		case x < 450:
			m.write(modelOp{{key: m.key(), value: m.value()}}, m.r.IntN(10) == 0)
		case x < 600:
			m.write(modelOp{{key: m.key(), del: true}}, m.r.IntN(10) == 0)
		case x < 720:
			var op modelOp
			for n := 1 + m.r.IntN(6); n > 0; n-- {
				op = append(op, modelEntry{key: m.key(), value: m.value(), del: m.r.IntN(4) == 0})
			}
			m.write(op, m.r.IntN(5) == 0)
		case x < 850:
			m.checkGet()
		case x < 880:
			m.checkScan()
		case x < 910:
			if err := m.db.Flush(ctx); err != nil {
				if !m.tolerate(err) {
					m.fatalf("Flush: %v", err)
				}
			} else {
				m.durable = len(m.log)
			}
		case x < 930:
			if err := m.db.FlushMemtable(ctx); err != nil {
				if !m.tolerate(err) {
					m.fatalf("FlushMemtable: %v", err)
				}
			} else {
				m.durable = len(m.log)
			}
		case x < 945:
			if _, err := m.db.Compact(ctx, m.r.IntN(2) == 0); err != nil && !m.tolerate(err) {
				m.fatalf("Compact: %v", err)
			}
		case x < 955:
			if _, err := m.db.gc(ctx); err != nil && !m.tolerate(err) {
				m.fatalf("gc: %v", err)
			}
		case x < 970:
			m.crash()
		case x < 985:
			if !m.armed {
				m.armCrash()
			}
		default:
			if m.armed {
				m.crash()
			} else {
				m.closeAndReopen()
			}
		}
		if m.armed && m.store.Crashed() && m.r.IntN(4) == 0 {
			m.crash()
		}
	}
	if m.armed {
		m.crash()
	}
	m.checkScan()
	m.closeAndReopen()
	m.db.Close(ctx)
	t.Logf("seed %d: %d ops, %d crashes, %d clean reopens, %d conditional PUTs, %d value compactions moving %d bytes",
		seed, ops, m.crashes, m.reopens, m.store.Calls(objstore.OpPutIfAbsent), m.valueCompactions, m.relocated)
}

// modelOps returns n, or LSM_MODEL_OPS when set (for long soak runs).
func modelOps(t *testing.T, n int) int {
	if s := os.Getenv("LSM_MODEL_OPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return n
}

// modelSeeds returns n random seeds, or the one in LSM_SEED to replay a
// failure.
func modelSeeds(t *testing.T, n int) []uint64 {
	if s := os.Getenv("LSM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{seed}
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = rand.Uint64()
	}
	return seeds
}

func TestModelMemory(t *testing.T) {
	ops := 4000
	if testing.Short() {
		ops = 1000
	}
	for _, seed := range modelSeeds(t, 3) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModel(t, objstore.NewMemory(), seed, modelOps(t, ops))
		})
	}
}

// TestModelLocalJournal is TestModelMemory with local durability: awaited
// writes and Flush are acknowledged from the journal, and crashes are
// process crashes or machine crashes that lose or tear the journal's
// unsynced bytes.
func TestModelLocalJournal(t *testing.T) {
	ops := 4000
	if testing.Short() {
		ops = 1000
	}
	for _, seed := range modelSeeds(t, 3) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModelWith(t, objstore.NewMemory(), seed, modelOps(t, ops), DurabilityLocal, nil)
		})
	}
}

func TestModelLocal(t *testing.T) {
	ops := 2000
	if testing.Short() {
		ops = 500
	}
	for _, seed := range modelSeeds(t, 1) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			store, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			runModel(t, store, seed, modelOps(t, ops))
		})
	}
}

func TestModelS3(t *testing.T) {
	ops := 800
	if testing.Short() {
		ops = 200
	}
	store := testenv.S3Store(t)
	for _, seed := range modelSeeds(t, 1) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			n := ops
			if os.Getenv("LSM_MODEL_OPS") != "" {
				n = max(modelOps(t, ops)/4, 1) // S3 runs a quarter of a soak
			}
			runModel(t, storetest.NewPrefixed(store, fmt.Sprintf("model-%d/", seed)), seed, n)
		})
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
