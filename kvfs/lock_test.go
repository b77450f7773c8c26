package kvfs

import (
	"math"
	"testing"
)

// TestStripeOf: every inode maps into [0, lockStripes), and consecutive
// inodes reach every stripe, so the shift matches the stripe count.
func TestStripeOf(t *testing.T) {
	if len(FS{}.locks) != lockStripes {
		t.Fatalf("FS has %d locks, want lockStripes = %d", len(FS{}.locks), lockStripes)
	}
	hit := make([]bool, lockStripes)
	check := func(ino uint64) {
		s := stripeOf(ino)
		if s < 0 || s >= lockStripes {
			t.Fatalf("stripeOf(%d) = %d, outside [0, %d)", ino, s, lockStripes)
		}
		hit[s] = true
	}
	for ino := uint64(0); ino < 16*lockStripes; ino++ {
		check(ino)
	}
	for _, ino := range []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 63, math.MaxUint32} {
		check(ino)
	}
	for s, ok := range hit {
		if !ok {
			t.Errorf("stripe %d never used by inodes 0..%d", s, 16*lockStripes)
		}
	}
}
