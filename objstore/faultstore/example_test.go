package faultstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// A test makes the third manifest write land but lose its answer, then
// "kills the process" on the next WAL write.
func Example() {
	ctx := context.Background()
	f := faultstore.New(objstore.NewMemory(), faultstore.Options{Seed: 1})
	f.Inject(faultstore.Fault{
		Ops:    []objstore.Op{objstore.OpPutIfAbsent},
		Key:    func(k string) bool { return strings.HasPrefix(k, "manifest/") },
		Action: faultstore.FailAfter,
		Skip:   2,
		Times:  1,
	})
	f.Inject(faultstore.Fault{
		Ops:    []objstore.Op{objstore.OpPut},
		Key:    func(k string) bool { return strings.HasPrefix(k, "wal/") },
		Action: faultstore.CrashBefore,
	})
	for i := 1; i <= 3; i++ {
		err := f.PutIfAbsent(ctx, fmt.Sprintf("manifest/%d", i), []byte("m"))
		fmt.Println("manifest", i, "error:", errors.Is(err, faultstore.ErrInjected))
	}
	_, err := f.Inner().Head(ctx, "manifest/3")
	fmt.Println("manifest 3 stored:", err == nil)
	err = f.Put(ctx, "wal/1", []byte("w"))
	fmt.Println("crashed:", errors.Is(err, faultstore.ErrCrashed), f.Crashed())
	_, err = f.Get(ctx, "manifest/1")
	fmt.Println("reads after the crash fail:", errors.Is(err, faultstore.ErrCrashed))
	// Output:
	// manifest 1 error: false
	// manifest 2 error: false
	// manifest 3 error: true
	// manifest 3 stored: true
	// crashed: true true
	// reads after the crash fail: true
}
