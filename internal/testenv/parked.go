package testenv

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// parkedTimeout is how long WaitParked waits before it fails the test.
const parkedTimeout = time.Minute

// WaitParked waits until some goroutine is parked with wait reason reason,
// as goroutine dumps name it ("select", "chan receive", "sync.Mutex.Lock"),
// right in function fn: fn is the first frame of its stack outside the
// runtime and the sync packages, named as in a dump without its module
// path ("exports.(*replicaFS).rotate"). It reports true then, or false as
// soon as done is closed (a nil done is never closed). It fails t when
// neither happens within a minute.
//
// A goroutine so parked does nothing until another wakes it: a test uses
// this instead of a sleep to be sure that a goroutine has reached the point
// where it waits.
func WaitParked(t testing.TB, fn, reason string, done <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(parkedTimeout)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if parkedIn(string(buf[:n]), fn, reason) {
			return true
		}
		select {
		case <-done:
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine parked (%s) in %s after %v", reason, fn, parkedTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// parkedIn reports whether the goroutine dump holds a goroutine parked
// with reason in fn (see WaitParked).
func parkedIn(dump, fn, reason string) bool {
	for _, g := range strings.Split(dump, "\n\n") {
		header, frames, _ := strings.Cut(g, "\n")
		_, state, ok := strings.Cut(header, "[")
		if !ok {
			continue
		}
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // ", 2 minutes", ", locked to thread"
		if state != reason {
			continue
		}
		if first := firstFrame(frames); first == fn || strings.HasSuffix(first, "/"+fn) {
			return true
		}
	}
	return false
}

// firstFrame returns the function of the first frame of a goroutine's
// stack outside the runtime and the sync packages.
func firstFrame(frames string) string {
	for _, line := range strings.Split(frames, "\n") {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
			continue
		}
		i := strings.LastIndex(line, "(")
		if i < 0 {
			continue
		}
		name := line[:i]
		// The standard library's runtime, sync and internal packages
		// (internal/sync holds the mutexes).
		if strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "sync.") || strings.HasPrefix(name, "internal/") {
			continue
		}
		return name
	}
	return ""
}
