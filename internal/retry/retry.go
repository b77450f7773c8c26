package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the delay before retry n (1 for the first retry): base
// doubled n-1 times, capped at maxDelay. With jitter it is drawn uniformly
// from [0, that delay] instead ("full jitter"), so that many clients failing
// together do not retry together. base and maxDelay must be positive; a
// base above maxDelay gives maxDelay.
func Delay(base, maxDelay time.Duration, n int, jitter bool) time.Duration {
	d := base
	for i := 1; i < n && d > 0 && d < maxDelay; i++ {
		if d > maxDelay/2 {
			d = maxDelay
			break
		}
		d *= 2
	}
	d = min(d, maxDelay)
	if !jitter || d <= 0 {
		return d
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// Backoff is Delay with the retry count kept for the caller: each Next is
// the delay before the next retry, Reset starts over (after a success). A
// Backoff is not safe for concurrent use; give each retry loop its own.
type Backoff struct {
	Base, Max time.Duration
	Jitter    bool
	n         int
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	if b.n < 64 { // the delay reached Max long before; keep n from growing
		b.n++
	}
	return Delay(b.Base, b.Max, b.n, b.Jitter)
}

// Reset starts the sequence again from Base.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d, or until ctx is done, when it returns ctx.Err(). A d <= 0
// returns nil at once, whatever the state of ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
