package require

import (
	"fmt"
	"testing"
)

// Recorder is a testing.TB for testing helpers that end a test, such as
// Missing: it records how the helper ended it. Fatalf, Skipf and Skip
// record their message and stop the caller as the real ones do, by
// unwinding, up to Run.
type Recorder struct {
	testing.TB
	FailedWith, SkippedWith string
}

// stopped is what a Recorder unwinds with.
type stopped struct{}

func (r *Recorder) Helper() {}

func (r *Recorder) Fatalf(format string, args ...any) {
	r.FailedWith = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *Recorder) Skipf(format string, args ...any) {
	r.SkippedWith = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *Recorder) Skip(args ...any) { r.Skipf("%s", fmt.Sprint(args...)) }

// Run calls f with r and returns when f returns or ends the test through r.
func (r *Recorder) Run(f func(tb testing.TB)) {
	defer func() {
		if p := recover(); p != nil && p != (stopped{}) {
			panic(p)
		}
	}()
	f(r)
}
