package lsm

import (
	"errors"
	"time"

	"github.com/zerofs-go/zerofsd/internal/retry"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// newBackoff is the retry delay of the WAL writer and the memtable flush:
// 10ms, doubling to 1.28s (compactions back off further: compactBackoff).
func newBackoff() retry.Backoff {
	return retry.Backoff{Base: 10 * time.Millisecond, Max: 1280 * time.Millisecond}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
