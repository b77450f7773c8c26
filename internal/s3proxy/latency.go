package s3proxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RegionLatency is a fair profile of a real object-store region seen from a
// machine in it: 20 ms per PUT, POST and DELETE, 10 ms per GET and HEAD
// (first byte). Loopback S3 answers in about a millisecond.
const RegionLatency = "put=20ms,get=10ms"

// MaxLatency bounds each method's latency, so that a unit typed by mistake
// ("20s" for "20ms") is refused instead of stalling a run for hours.
const MaxLatency = 10 * time.Second

// Latency is the delay added to each request, per HTTP method. Methods
// other than these five are not delayed.
type Latency struct {
	Get, Head, Put, Post, Delete time.Duration
}

// latencyMethods lists the methods of Latency in the order String writes
// them, with the method each one inherits from when ParseLatency is not
// given it ("" for none).
var latencyMethods = []struct {
	name, inherits string
	field          func(*Latency) *time.Duration
}{
	{"get", "", func(l *Latency) *time.Duration { return &l.Get }},
	{"head", "get", func(l *Latency) *time.Duration { return &l.Head }},
	{"put", "", func(l *Latency) *time.Duration { return &l.Put }},
	{"post", "put", func(l *Latency) *time.Duration { return &l.Post }},
	{"delete", "put", func(l *Latency) *time.Duration { return &l.Delete }},
}

// For returns the latency of a request with this method.
func (l Latency) For(method string) time.Duration {
	switch method {
	case http.MethodGet:
		return l.Get
	case http.MethodHead:
		return l.Head
	case http.MethodPut:
		return l.Put
	case http.MethodPost:
		return l.Post
	case http.MethodDelete:
		return l.Delete
	}
	return 0
}

// IsZero reports whether no request is delayed.
func (l Latency) IsZero() bool { return l == Latency{} }

// String is the canonical form ParseLatency reads back: every method
// spelled out ("get=10ms,head=10ms,put=20ms,post=20ms,delete=20ms"), or
// "none".
func (l Latency) String() string {
	if l.IsZero() {
		return "none"
	}
	parts := make([]string, 0, len(latencyMethods))
	for _, m := range latencyMethods {
		parts = append(parts, m.name+"="+m.field(&l).String())
	}
	return strings.Join(parts, ",")
}

// ParseLatency reads a latency profile: comma-separated METHOD=DURATION
// pairs, methods get, head, put, post and delete (any case), durations as
// time.ParseDuration takes them, from 0 to MaxLatency. A method not given
// takes the latency of its kin: head that of get, post and delete that of
// put; the others get none. So "put=20ms,get=10ms" (RegionLatency) delays
// every PUT, POST and DELETE by 20 ms and every GET and HEAD by 10 ms. ""
// and "none" mean no latency.
func ParseLatency(s string) (Latency, error) {
	var l Latency
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return l, nil
	}
	given := map[string]time.Duration{}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Latency{}, fmt.Errorf("latency %q: %q is not METHOD=DURATION (e.g. %s)", s, part, RegionLatency)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		known := false
		for _, m := range latencyMethods {
			known = known || m.name == name
		}
		if !known {
			return Latency{}, fmt.Errorf("latency %q: unknown method %q (want get, head, put, post or delete)", s, name)
		}
		if _, dup := given[name]; dup {
			return Latency{}, fmt.Errorf("latency %q: %s given twice", s, name)
		}
		d, err := time.ParseDuration(strings.TrimSpace(value))
		if err != nil {
			return Latency{}, fmt.Errorf("latency %q: %s: %w", s, name, err)
		}
		if d < 0 || d > MaxLatency {
			return Latency{}, fmt.Errorf("latency %q: %s=%v is outside 0 to %v", s, name, d, MaxLatency)
		}
		given[name] = d
	}
	for _, m := range latencyMethods {
		d, ok := given[m.name]
		if !ok && m.inherits != "" {
			d = given[m.inherits]
		}
		*m.field(&l) = d
	}
	return l, nil
}
