package faultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestFaultyContractWithoutFaults(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		return faultstore.New(objstore.NewMemory(), faultstore.Options{Seed: 1})
	})
}

func TestFaultyActions(t *testing.T) {
	custom := errors.New("disk on fire")
	tests := []struct {
		name       string
		fault      faultstore.Fault
		wantErr    error // nil: the Put succeeds
		wantStored bool
		wantCrash  bool
	}{
		{"fail before", faultstore.Fault{Action: faultstore.FailBefore}, faultstore.ErrInjected, false, false},
		{"fail before custom error", faultstore.Fault{Err: custom}, custom, false, false},
		{"fail after (torn)", faultstore.Fault{Action: faultstore.FailAfter}, faultstore.ErrInjected, true, false},
		{"delay only", faultstore.Fault{Action: faultstore.DelayOnly, Latency: time.Millisecond}, nil, true, false},
		{"crash before", faultstore.Fault{Action: faultstore.CrashBefore}, faultstore.ErrCrashed, false, true},
		{"crash after", faultstore.Fault{Action: faultstore.CrashAfter}, faultstore.ErrCrashed, true, true},
		{"other op untouched", faultstore.Fault{Ops: []objstore.Op{objstore.OpDelete}}, nil, true, false},
		{"other key untouched", faultstore.Fault{Key: func(k string) bool { return strings.HasPrefix(k, "wal/") }}, nil, true, false},
		{"matching key", faultstore.Fault{Key: func(k string) bool { return strings.HasPrefix(k, "man") }}, faultstore.ErrInjected, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := objstore.NewMemory()
			f := faultstore.New(mem, faultstore.Options{})
			f.Inject(tc.fault)
			err := f.Put(ctx, "manifest/1", []byte("m"))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put error = %v, want %v", err, tc.wantErr)
			}
			_, herr := mem.Head(ctx, "manifest/1")
			if stored := herr == nil; stored != tc.wantStored {
				t.Fatalf("object stored = %v, want %v", stored, tc.wantStored)
			}
			if f.Crashed() != tc.wantCrash {
				t.Fatalf("Crashed() = %v, want %v", f.Crashed(), tc.wantCrash)
			}
			if f.Calls(objstore.OpPut) != 1 {
				t.Fatalf("Calls(Put) = %d, want 1", f.Calls(objstore.OpPut))
			}
		})
	}
}

func TestFaultyCrashSwitch(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	f := faultstore.New(mem, faultstore.Options{})
	if err := f.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	f.Crash()
	calls := map[string]func() error{
		"Get":         func() error { _, err := f.Get(ctx, "a"); return err },
		"GetRange":    func() error { _, err := f.GetRange(ctx, "a", 0, 1); return err },
		"Head":        func() error { _, err := f.Head(ctx, "a"); return err },
		"Put":         func() error { return f.Put(ctx, "b", nil) },
		"PutIfAbsent": func() error { return f.PutIfAbsent(ctx, "c", nil) },
		"Delete":      func() error { return f.Delete(ctx, "a") },
		"List":        func() error { _, err := f.List(ctx, "", objstore.ListOptions{}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, faultstore.ErrCrashed) {
			t.Errorf("%s after Crash: %v, want ErrCrashed", name, err)
		}
	}
	if mem.Len() != 1 {
		t.Errorf("inner store has %d objects after crashed calls, want 1", mem.Len())
	}
	f.Restart()
	if _, err := f.Get(ctx, "a"); err != nil {
		t.Errorf("Get after Restart: %v", err)
	}
}

func TestFaultySkipTimes(t *testing.T) {
	ctx := context.Background()
	f := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	h := f.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Skip: 2, Times: 3})
	var failed []int
	for i := range 8 {
		if err := f.Put(ctx, "k", []byte{byte(i)}); err != nil {
			failed = append(failed, i)
		}
	}
	if want := []int{2, 3, 4}; !equalInts(failed, want) {
		t.Fatalf("failed calls = %v, want %v", failed, want)
	}
	if h.Fired() != 3 || f.Injected(objstore.OpPut) != 3 || f.Calls(objstore.OpPut) != 8 {
		t.Fatalf("Fired=%d Injected=%d Calls=%d, want 3 3 8", h.Fired(), f.Injected(objstore.OpPut), f.Calls(objstore.OpPut))
	}
	h.Remove()
	f.FailNext(objstore.OpGet, 1)
	if _, err := f.Get(ctx, "k"); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("FailNext: first Get = %v, want ErrInjected", err)
	}
	if _, err := f.Get(ctx, "k"); err != nil {
		t.Fatalf("FailNext: second Get = %v, want success", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultyProbabilityIsDeterministic(t *testing.T) {
	run := func(seed uint64) []bool {
		ctx := context.Background()
		f := faultstore.New(objstore.NewMemory(), faultstore.Options{Seed: seed})
		f.Inject(faultstore.Fault{Probability: 0.3})
		out := make([]bool, 500)
		for i := range out {
			out[i] = f.Put(ctx, "k", nil) != nil
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	hits := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different fault at call %d", i)
		}
		if a[i] {
			hits++
		}
	}
	if hits < 100 || hits > 200 {
		t.Fatalf("probability 0.3 hit %d of 500 calls", hits)
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatalf("different seeds gave the same 500 faults")
	}
}

func TestFaultyLatencyHonoursContext(t *testing.T) {
	f := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	f.Inject(faultstore.Fault{Action: faultstore.DelayOnly, Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := f.Put(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with an hour of latency and a canceled ctx: %v, want context.Canceled", err)
	}
	if _, err := f.Inner().Head(context.Background(), "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("canceled delayed Put was applied: %v", err)
	}
}

func TestFaultyNotFoundImitation(t *testing.T) {
	f := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	f.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGet}, Err: objstore.ErrNotFound})
	if _, err := f.Get(context.Background(), "anything"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func TestFaultyDamage(t *testing.T) {
	ctx := context.Background()
	orig := []byte("0123456789abcdef")
	countDiff := func(a, b []byte) int {
		n := 0
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name     string
		op       objstore.Op
		action   faultstore.Action
		wantLen  int
		wantDiff int
	}{
		{"corrupt get", objstore.OpGet, faultstore.Corrupt, 16, 1},
		{"corrupt range", objstore.OpGetRange, faultstore.Corrupt, 8, 1},
		{"truncate get", objstore.OpGet, faultstore.Truncate, 8, 0},
		{"truncate range", objstore.OpGetRange, faultstore.Truncate, 4, 0},
		{"corrupt put", objstore.OpPut, faultstore.Corrupt, 16, 1},
		{"truncate put", objstore.OpPut, faultstore.Truncate, 8, 0},
		{"corrupt put if absent", objstore.OpPutIfAbsent, faultstore.Corrupt, 16, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := objstore.NewMemory()
			f := faultstore.New(mem, faultstore.Options{Seed: 3})
			f.Inject(faultstore.Fault{Ops: []objstore.Op{tc.op}, Action: tc.action, Times: 1})
			var got []byte
			var err error
			switch tc.op {
			case objstore.OpGet, objstore.OpGetRange:
				if err := mem.Put(ctx, "k", orig); err != nil {
					t.Fatal(err)
				}
				if tc.op == objstore.OpGet {
					got, err = f.Get(ctx, "k")
				} else {
					got, err = f.GetRange(ctx, "k", 0, 8)
				}
				if stored, _ := mem.Get(ctx, "k"); string(stored) != string(orig) {
					t.Fatalf("a damaged read changed the stored object")
				}
			case objstore.OpPut, objstore.OpPutIfAbsent:
				if tc.op == objstore.OpPut {
					err = f.Put(ctx, "k", orig)
				} else {
					err = f.PutIfAbsent(ctx, "k", orig)
				}
				if err == nil {
					got, err = mem.Get(ctx, "k")
				}
			}
			if err != nil {
				t.Fatalf("damaging fault returned an error: %v", err)
			}
			if len(got) != tc.wantLen || countDiff(got, orig) != tc.wantDiff {
				t.Fatalf("got %q (len %d, %d bytes differ), want len %d with %d differing", got, len(got), countDiff(got, orig), tc.wantLen, tc.wantDiff)
			}
			if string(orig) != "0123456789abcdef" {
				t.Fatalf("fault changed the caller's buffer")
			}
		})
	}
}
