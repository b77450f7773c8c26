package retry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestBackoffSequence(t *testing.T) {
	tests := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration
	}{
		{"doubles to the ceiling", 10 * ms, 1280 * ms, []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, 1280 * ms, 1280 * ms}},
		{"ceiling not a power of two away", 5 * ms, time.Second, []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}},
		{"base above the ceiling", time.Second, 100 * ms, []time.Duration{100 * ms, 100 * ms}},
		{"hour-long", time.Hour, time.Hour, []time.Duration{time.Hour, time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Base: tt.base, Max: tt.max}
			var got []time.Duration
			for range tt.want {
				got = append(got, b.Next())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("delays %v, want %v", got, tt.want)
			}
			b.Reset()
			if d := b.Next(); d != tt.want[0] {
				t.Errorf("after Reset: %v, want %v", d, tt.want[0])
			}
		})
	}
}

func TestDelay(t *testing.T) {
	tests := []struct {
		name      string
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{"first retry", 50 * ms, 5 * time.Second, 1, 50 * ms},
		{"third retry", 50 * ms, 5 * time.Second, 3, 200 * ms},
		{"capped", 50 * ms, 5 * time.Second, 8, 5 * time.Second},
		{"many retries", 50 * ms, 5 * time.Second, 1000, 5 * time.Second},
		{"no overflow past the cap", time.Hour, 1000 * time.Hour, 40, 1000 * time.Hour},
		{"base above the cap", time.Second, 100 * ms, 1, 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Delay(tt.base, tt.max, tt.n, false); got != tt.want {
				t.Errorf("Delay(%v, %v, %d) = %v, want %v", tt.base, tt.max, tt.n, got, tt.want)
			}
			for range 100 {
				if got := Delay(tt.base, tt.max, tt.n, true); got < 0 || got > tt.want {
					t.Fatalf("jittered Delay(%v, %v, %d) = %v, outside [0, %v]", tt.base, tt.max, tt.n, got, tt.want)
				}
			}
		})
	}
}

// TestBackoffJitter: each jittered delay lies in [0, the plain delay], and
// they are not all the same.
func TestBackoffJitter(t *testing.T) {
	plain := Backoff{Base: ms, Max: 64 * ms}
	jit := Backoff{Base: ms, Max: 64 * ms, Jitter: true}
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		ceiling, d := plain.Next(), jit.Next()
		if d < 0 || d > ceiling {
			t.Fatalf("retry %d: delay %v outside [0, %v]", i, d, ceiling)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 200: no jitter?", len(seen))
	}
}

func TestSleep(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"elapses", context.Background(), ms, nil},
		{"zero returns at once", canceled, 0, nil},
		{"negative returns at once", canceled, -time.Second, nil},
		{"canceled", canceled, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if err := Sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("Sleep = %v, want %v", err, tt.want)
			}
			el := time.Since(start)
			if tt.want == nil && el < tt.d {
				t.Errorf("Sleep(%v) returned after %v", tt.d, el)
			}
			if tt.want != nil && el > 10*time.Second {
				t.Errorf("Sleep on a canceled context took %v", el)
			}
		})
	}
}

func TestSleepCanceledMidway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*ms)
	defer cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Sleep returned after %v", el)
	}
}
