package s3proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in      string
		want    Latency
		wantErr string
	}{
		{in: "", want: Latency{}},
		{in: "none", want: Latency{}},
		{in: " NONE ", want: Latency{}},
		{in: RegionLatency, want: Latency{Get: 10 * ms, Head: 10 * ms, Put: 20 * ms, Post: 20 * ms, Delete: 20 * ms}},
		{in: "get=10ms,put=20ms", want: Latency{Get: 10 * ms, Head: 10 * ms, Put: 20 * ms, Post: 20 * ms, Delete: 20 * ms}},
		{in: "PUT=20ms, Get = 10ms", want: Latency{Get: 10 * ms, Head: 10 * ms, Put: 20 * ms, Post: 20 * ms, Delete: 20 * ms}},
		{in: "put=20ms,get=10ms,head=1ms,delete=0s", want: Latency{Get: 10 * ms, Head: ms, Put: 20 * ms, Post: 20 * ms}},
		{in: "get=5ms", want: Latency{Get: 5 * ms, Head: 5 * ms}},
		{in: "post=30ms", want: Latency{Post: 30 * ms}},
		{in: "get=10s", want: Latency{Get: 10 * time.Second, Head: 10 * time.Second}},
		{in: "get=10", wantErr: "missing unit"},
		{in: "get10ms", wantErr: "not METHOD=DURATION"},
		{in: "patch=1ms", wantErr: `unknown method "patch"`},
		{in: "get=1ms,GET=2ms", wantErr: "get given twice"},
		{in: "get=-1ms", wantErr: "outside 0 to 10s"},
		{in: "put=20s", wantErr: "outside 0 to 10s"},
		{in: "get=1ms,", wantErr: "not METHOD=DURATION"},
	}
	for _, tt := range tests {
		got, err := ParseLatency(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseLatency(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLatency(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		back, err := ParseLatency(got.String())
		if err != nil || back != got {
			t.Errorf("ParseLatency(%q).String() = %q reads back as %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestLatencyFor(t *testing.T) {
	l := Latency{Get: 1, Head: 2, Put: 3, Post: 4, Delete: 5}
	for method, want := range map[string]time.Duration{
		http.MethodGet: 1, http.MethodHead: 2, http.MethodPut: 3, http.MethodPost: 4, http.MethodDelete: 5,
		http.MethodOptions: 0, "get": 0,
	} {
		if got := l.For(method); got != want {
			t.Errorf("For(%s) = %v, want %v", method, got, want)
		}
	}
	if s := (Latency{}).String(); s != "none" {
		t.Errorf("zero latency String() = %q, want none", s)
	}
	if s := l.String(); s != "get=1ns,head=2ns,put=3ns,post=4ns,delete=5ns" {
		t.Errorf("String() = %q", s)
	}
}

func FuzzParseLatency(f *testing.F) {
	f.Add(RegionLatency)
	f.Add("get=1ms,head=2ms,put=3ms,post=4ms,delete=5ms")
	f.Add("none")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLatency(s)
		if err != nil {
			return
		}
		for _, d := range []time.Duration{l.Get, l.Head, l.Put, l.Post, l.Delete} {
			if d < 0 || d > MaxLatency {
				t.Fatalf("ParseLatency(%q) = %+v: out of bounds", s, l)
			}
		}
		if back, err := ParseLatency(l.String()); err != nil || back != l {
			t.Fatalf("ParseLatency(%q) = %+v; its String %q reads back as %+v, %v", s, l, l.String(), back, err)
		}
	})
}
