package objstore_test

import (
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

func TestCountingStats(t *testing.T) {
	ctx := context.Background()
	faulty := objstore.NewFaulty(objstore.NewMemory(), objstore.FaultyOptions{})
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
