package testenv

import (
	"sync"
	"testing"
)

type parkedLocker struct {
	mu    sync.Mutex
	taken int
}

// lock takes the mutex (parking while the test holds it) and counts it.
//
//go:noinline
func (l *parkedLocker) lock() {
	l.mu.Lock()
	l.taken++
	l.mu.Unlock()
}

//go:noinline
func parkedReceive(c chan struct{}) { <-c }

func TestWaitParked(t *testing.T) {
	t.Run("mutex", func(t *testing.T) {
		var l parkedLocker
		l.mu.Lock()
		done := make(chan struct{})
		go func() { defer close(done); l.lock() }()
		if !WaitParked(t, "testenv.(*parkedLocker).lock", "sync.Mutex.Lock", done) {
			t.Fatal("the goroutine returned while the mutex was held")
		}
		l.mu.Unlock()
		<-done
	})
	t.Run("chan receive", func(t *testing.T) {
		c := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); parkedReceive(c) }()
		if !WaitParked(t, "testenv.parkedReceive", "chan receive", done) {
			t.Fatal("the goroutine returned before its receive")
		}
		close(c)
		<-done
	})
	t.Run("done first", func(t *testing.T) {
		done := make(chan struct{})
		close(done)
		if WaitParked(t, "testenv.parkedReceive", "chan receive", done) {
			t.Fatal("found a goroutine parked in a function no goroutine runs")
		}
	})
}

func TestParkedInReadsADump(t *testing.T) {
	dump := `goroutine 1 [running]:
main.main()
	/x/main.go:28 +0x110

goroutine 5 [sync.Mutex.Lock, 2 minutes]:
internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	/go/src/runtime/sema.go:95 +0x25
internal/sync.(*Mutex).lockSlow(0x8565391a0b0)
	/go/src/internal/sync/mutex.go:149 +0x15d
sync.(*Mutex).Lock(...)
	/go/src/sync/mutex.go:46
example.net/m/exports.(*replicaFS).rotate(...)
	/x/replica.go:12
created by example.net/m/exports.f in goroutine 1
	/x/replica.go:24 +0x85

goroutine 6 [select]:
example.net/m/kvfs.(*readAhead).read(0xc000)
	/x/readahead.go:15
example.net/m/kvfs.(*FS).Read(0xc000)
	/x/data.go:15
`
	tests := []struct {
		fn, reason string
		want       bool
	}{
		{"exports.(*replicaFS).rotate", "sync.Mutex.Lock", true},
		{"exports.(*replicaFS).rotate", "select", false},
		{"kvfs.(*readAhead).read", "select", true},
		{"kvfs.(*FS).Read", "select", false}, // not the first frame
		{"main.main", "running", true},
		{"exports.f", "sync.Mutex.Lock", false}, // a "created by" line
	}
	for _, tc := range tests {
		if got := parkedIn(dump, tc.fn, tc.reason); got != tc.want {
			t.Errorf("parkedIn(%s, %s) = %v, want %v", tc.fn, tc.reason, got, tc.want)
		}
	}
}
