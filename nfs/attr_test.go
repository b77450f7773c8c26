package nfs

import (
	"math"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// TestPutTime: nfstime3 holds unsigned 32-bit seconds (RFC 1813 section
// 2.6). Times it cannot hold are clamped, monotonically: before the epoch
// to the epoch, at or after 2^32 seconds to the last instant it can hold.
func TestPutTime(t *testing.T) {
	const maxSec = math.MaxUint32
	cases := []struct {
		name      string
		in        time.Time
		sec, nsec uint32
	}{
		{"epoch", time.Unix(0, 0), 0, 0},
		{"ordinary", time.Unix(1_700_000_000, 123_456_789), 1_700_000_000, 123_456_789},
		{"last second", time.Unix(maxSec, 5), maxSec, 5},
		{"last instant", time.Unix(maxSec, 999_999_999), maxSec, 999_999_999},
		{"2^32 seconds", time.Unix(maxSec+1, 0), maxSec, 999_999_999},
		{"2^32 seconds and a bit", time.Unix(maxSec+1, 5), maxSec, 999_999_999},
		{"year 2200", time.Date(2200, 1, 1, 0, 0, 0, 7, time.UTC), maxSec, 999_999_999},
		{"half a second before the epoch", time.Unix(-1, 500_000_000), 0, 0},
		{"1960", time.Date(1960, 1, 1, 0, 0, 0, 7, time.UTC), 0, 0},
		{"zero time.Time", time.Time{}, 0, 0},
	}
	for _, c := range cases {
		var e xdr.Encoder
		putTime(&e, c.in)
		d := xdr.NewDecoder(e.Buf)
		sec, nsec := d.Uint32(), d.Uint32()
		if d.Err() != nil || len(e.Buf) != 8 {
			t.Fatalf("%s: %d bytes, %v", c.name, len(e.Buf), d.Err())
		}
		if sec != c.sec || nsec != c.nsec {
			t.Errorf("%s: encoded %d.%09d, want %d.%09d", c.name, sec, nsec, c.sec, c.nsec)
		}
		if back := getTime(xdr.NewDecoder(e.Buf)); !back.Equal(time.Unix(int64(c.sec), int64(c.nsec))) {
			t.Errorf("%s: decodes as %v", c.name, back)
		}
	}
}
