package objstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

func TestCountingStats(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	c := objstore.NewCounting(faulty)
	steps := []func(){
		func() { _ = c.Put(ctx, "a", make([]byte, 100)) },
		func() { _ = c.PutIfAbsent(ctx, "a", make([]byte, 7)) }, // precondition: not a failure
		func() { _, _ = c.Get(ctx, "a") },
		func() { _, _ = c.GetRange(ctx, "a", 90, 50) },
		func() { _, _ = c.Get(ctx, "missing") }, // not found: not a failure
		func() { _, _ = c.Head(ctx, "a") },
		func() { _, _ = c.List(ctx, "", objstore.ListOptions{}) },
		func() { faulty.FailNext(objstore.OpDelete, 1); _ = c.Delete(ctx, "a") },
	}
	for _, step := range steps {
		step()
	}
	s := c.Stats()
	want := map[objstore.Op]objstore.OpStats{
		objstore.OpPut:         {Requests: 1, BytesWritten: 100},
		objstore.OpPutIfAbsent: {Requests: 1},
		objstore.OpGet:         {Requests: 2, BytesRead: 100},
		objstore.OpGetRange:    {Requests: 1, BytesRead: 10},
		objstore.OpHead:        {Requests: 1},
		objstore.OpList:        {Requests: 1},
		objstore.OpDelete:      {Requests: 1, Failures: 1},
	}
	for op, w := range want {
		if s[op] != w {
			t.Errorf("%s stats = %+v, want %+v", op, s[op], w)
		}
	}
	if tot := s.Total(); tot.Requests != 8 || tot.Failures != 1 || tot.BytesRead != 110 || tot.BytesWritten != 100 {
		t.Errorf("Total = %+v", tot)
	}
}

func TestCountingObservesLatency(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	type seen struct {
		op     objstore.Op
		d      time.Duration
		failed bool
	}
	var mu sync.Mutex
	var got []seen
	c := objstore.NewCountingObserved(faulty, func(op objstore.Op, d time.Duration, err error) {
		mu.Lock()
		got = append(got, seen{op, d, err != nil})
		mu.Unlock()
	})
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Action: faultstore.DelayOnly, Latency: 20 * time.Millisecond})
	_ = c.Put(ctx, "a", []byte("x"))
	_, _ = c.Get(ctx, "missing")
	if len(got) != 2 {
		t.Fatalf("observed %d requests, want 2: %+v", len(got), got)
	}
	if got[0].op != objstore.OpPut || got[0].d < 20*time.Millisecond || got[0].failed {
		t.Errorf("put observed as %+v, want OpPut taking >= 20ms without error", got[0])
	}
	if got[1].op != objstore.OpGet || !got[1].failed {
		t.Errorf("get of a missing key observed as %+v, want OpGet with its error", got[1])
	}
}
