package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

func TestAllow(t *testing.T) {
	type step struct {
		advance        time.Duration
		key            string
		wantOK         bool
		wantSuppressed int
	}
	tests := []struct {
		name    string
		maxKeys int
		steps   []step
	}{
		{"one line per key per interval", 8, []step{
			{0, "a", true, 0},
			{0, "a", false, 0},
			{30 * time.Second, "a", false, 0},
			{0, "b", true, 0},
			{29 * time.Second, "a", false, 0},
			{time.Second, "a", true, 3},
			{0, "a", false, 0},
			{time.Minute, "a", true, 1},
			{time.Minute, "a", true, 0},
		}},
		{"keys beyond the bound share one allowance", 2, []step{
			{0, "a", true, 0},
			{0, "b", true, 0},
			{0, "c", true, 0},
			{0, "d", false, 0},
			{0, "c", false, 0},
			{0, "a", false, 0},
			{time.Minute, "e", true, 0}, // a and b expired: e gets a window of its own
			{0, "e", false, 0},
		}},
		{"the key let through the longest ago makes room, the others keep their count", 2, []step{
			{0, "a", true, 0},
			{time.Second, "b", true, 0},
			{time.Second, "b", false, 0},
			{time.Minute, "c", true, 0}, // a and b expired: a, the oldest, is forgotten
			{0, "b", true, 1},           // b remembered its line held back
			{0, "a", true, 0},           // a forgotten, none expired: the shared allowance
			{0, "d", false, 0},
		}},
		{"a key let through again is the newest", 2, []step{
			{0, "a", true, 0},
			{10 * time.Second, "b", true, 0},
			{50 * time.Second, "a", true, 0},
			{10 * time.Second, "c", true, 0}, // b, not a, is forgotten
			{0, "a", false, 0},
			{0, "b", true, 0}, // beyond the bound: the shared allowance
			{0, "d", false, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testenv.NewClock(time.Unix(1e9, 0))
			l := New[string](time.Minute, tt.maxKeys, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				ok, n := l.Allow(s.key)
				if ok != s.wantOK || n != s.wantSuppressed {
					t.Fatalf("step %d (%q after %v): Allow = %v, %d; want %v, %d", i, s.key, s.advance, ok, n, s.wantOK, s.wantSuppressed)
				}
				if len(l.keys) > tt.maxKeys || l.order.Len() != len(l.keys) {
					t.Fatalf("step %d: remembers %d keys (%d in order), bound %d", i, len(l.keys), l.order.Len(), tt.maxKeys)
				}
			}
		})
	}
}

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	clock := testenv.NewClock(time.Unix(1e9, 0))
	l := New[string](time.Minute, 8, clock.Now)
	ctx := context.Background()
	for range 4 {
		l.Log(ctx, log, slog.LevelWarn, "10.0.0.1", "refused", "remote", "10.0.0.1")
	}
	l.Log(ctx, log, slog.LevelDebug, "10.0.0.1", "not enabled")
	clock.Advance(time.Minute)
	l.Log(ctx, log, slog.LevelWarn, "10.0.0.1", "refused", "remote", "10.0.0.1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "suppressed=3") {
		t.Fatalf("suppressed counts wrong:\n%s", buf.String())
	}
}
