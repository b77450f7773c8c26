package ratelog

import (
	"container/list"
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

	mu   sync.Mutex
	keys map[K]*list.Element // of *entry[K], in order
	// order holds the keys by when a line was last let through, the
	// oldest at the front: the first to be forgotten.
	order    list.List
	overflow window
}

// window is one key's state: when a line was last let through, and how
// many were held back since.
type window struct {
	last       time.Time
	suppressed int
}

// entry is a remembered key and its window.
type entry[K comparable] struct {
	key K
	window
}

// New returns a Limiter letting one line per key through per interval,
// remembering up to maxKeys keys, reading the time from now (time.Now when
// nil).
func New[K comparable](interval time.Duration, maxKeys int, now func() time.Time) *Limiter[K] {
	if now == nil {
		now = time.Now
	}
	return &Limiter[K]{interval: interval, maxKeys: max(maxKeys, 1), now: now, keys: make(map[K]*list.Element)}
}

// Allow reports whether a line for key may be written now and, if so, how
// many lines for key were held back since the last one let through.
func (l *Limiter[K]) Allow(key K) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var w *window
	el, known := l.keys[key]
	if known {
		w = &el.Value.(*entry[K]).window
	} else {
		if len(l.keys) >= l.maxKeys {
			l.forgetOldest(now)
		}
		if len(l.keys) >= l.maxKeys {
			w = &l.overflow
		} else {
			e := &entry[K]{key: key}
			l.keys[key] = l.order.PushBack(e)
			return e.pass(now)
		}
	}
	if !w.last.IsZero() && now.Sub(w.last) < l.interval {
		w.suppressed++
		return false, 0
	}
	if known {
		l.order.MoveToBack(el)
	}
	return w.pass(now)
}

// pass lets a line through at now.
func (w *window) pass(now time.Time) (bool, int) {
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}

// forgetOldest drops the key let through the longest ago if its interval
// has ended (what it held back since is not reported): when it has not,
// no key's has.
func (l *Limiter[K]) forgetOldest(now time.Time) {
	front := l.order.Front()
	if front == nil {
		return
	}
	if e := front.Value.(*entry[K]); now.Sub(e.last) >= l.interval {
		l.order.Remove(front)
		delete(l.keys, e.key)
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
