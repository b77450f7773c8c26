package lsm

import (
	"context"
	"errors"
	"time"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// sleepCtx waits d or until ctx or stop is done; it reports whether the
// full wait elapsed.
func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// backoff grows a retry delay up to a ceiling.
type backoff struct{ cur time.Duration }

func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = 10 * time.Millisecond
	case b.cur < time.Second:
		b.cur *= 2
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
