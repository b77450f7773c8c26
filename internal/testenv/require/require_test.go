package require

import (
	"strings"
	"testing"
)

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
				r := &Recorder{TB: t}
				r.Run(func(tb testing.TB) {
					Missing(tb, env, "%s is not installed", "frobnicate")
					t.Fatal("Missing returned")
				})
				got := r.SkippedWith
				if tt.wantFail {
					got = r.FailedWith
					if r.SkippedWith != "" {
						t.Fatalf("skipped %q, want a failure", r.SkippedWith)
					}
				} else if r.FailedWith != "" {
					t.Fatalf("failed %q, want a skip", r.FailedWith)
				}
				if !strings.Contains(got, "frobnicate is not installed") || !strings.Contains(got, env+"=1") {
					t.Fatalf("message %q names neither what is missing nor %s", got, env)
				}
			})
		}
	}
}
