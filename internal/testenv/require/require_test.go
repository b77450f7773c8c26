package require

import (
	"fmt"
	"strings"
	"testing"
)

// recordingTB records how Missing ends a test; Fatalf and Skipf stop the
// caller as the real ones do, by unwinding (here, with a panic).
type recordingTB struct {
	testing.TB
	failed, skipped string
}

type stopped struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// TestMissing: Missing skips unless its variable is "1", then fails; the
// message names what is missing and the variable.
func TestMissing(t *testing.T) {
	tests := []struct {
		value    string
		wantFail bool
	}{
		{"", false},
		{"0", false},
		{"yes", false},
		{"1", true},
	}
	for _, env := range []string{S3, Kernel, Host} {
		for _, tt := range tests {
			t.Run(env+"="+tt.value, func(t *testing.T) {
				t.Setenv(env, tt.value)
				r := &recordingTB{TB: t}
				func() {
					defer func() {
						if p := recover(); p != nil && p != (stopped{}) {
							panic(p)
						}
					}()
					Missing(r, env, "%s is not installed", "frobnicate")
					t.Fatal("Missing returned")
				}()
				got := r.skipped
				if tt.wantFail {
					got = r.failed
					if r.skipped != "" {
						t.Fatalf("skipped %q, want a failure", r.skipped)
					}
				} else if r.failed != "" {
					t.Fatalf("failed %q, want a skip", r.failed)
				}
				if !strings.Contains(got, "frobnicate is not installed") || !strings.Contains(got, env+"=1") {
					t.Fatalf("message %q names neither what is missing nor %s", got, env)
				}
			})
		}
	}
}
