package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter lets through at most one line per key per interval. It remembers
// at most maxKeys keys; while that many are within their interval, lines of
// other keys share one allowance, so the memory stays bounded however many
// addresses a client uses. Safe for concurrent use.
type Limiter[K comparable] struct {
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu       sync.Mutex
	keys     map[K]*window
	overflow window
}

// window is one key's state: when a line was last let through, and how
// many were held back since.
type window struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter letting one line per key through per interval,
// remembering up to maxKeys keys, reading the time from now (time.Now when
// nil).
func New[K comparable](interval time.Duration, maxKeys int, now func() time.Time) *Limiter[K] {
	if now == nil {
		now = time.Now
	}
	return &Limiter[K]{interval: interval, maxKeys: max(maxKeys, 1), now: now, keys: make(map[K]*window)}
}

// Allow reports whether a line for key may be written now and, if so, how
// many lines for key were held back since the last one let through.
func (l *Limiter[K]) Allow(key K) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, known := l.keys[key]
	if !known {
		if len(l.keys) >= l.maxKeys {
			l.forgetExpired(now)
		}
		if len(l.keys) >= l.maxKeys {
			w = &l.overflow
		} else {
			w = &window{}
			l.keys[key] = w
			return w.pass(now)
		}
	}
	if !w.last.IsZero() && now.Sub(w.last) < l.interval {
		w.suppressed++
		return false, 0
	}
	return w.pass(now)
}

// pass lets a line through at now.
func (w *window) pass(now time.Time) (bool, int) {
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}

// forgetExpired drops the keys whose interval has ended (what they held
// back since is not reported).
func (l *Limiter[K]) forgetExpired(now time.Time) {
	for k, w := range l.keys {
		if now.Sub(w.last) >= l.interval {
			delete(l.keys, k)
		}
	}
}

// Log writes msg with args at level to log if Allow(key) lets it through,
// adding "suppressed" (the number of lines held back) when there were any.
func (l *Limiter[K]) Log(ctx context.Context, log *slog.Logger, level slog.Level, key K, msg string, args ...any) {
	if !log.Enabled(ctx, level) {
		return
	}
	ok, n := l.Allow(key)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(ctx, level, msg, args...)
}
