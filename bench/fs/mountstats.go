package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ClientOps is the guest kernel's own account of the NFS calls of one mount
// (the per-op statistics of /proc/self/mountstats), by procedure.
type ClientOps map[string]ClientOp

// ClientOp is one procedure's counters: calls, the cumulative round trip
// (sent until the reply arrived: network, relays and server) and the
// cumulative execute time (queued until done, what the caller waited).
type ClientOp struct {
	Calls   int64
	RTT     time.Duration
	Execute time.Duration
}

// parseMountstats reads the per-op statistics of the NFS mount at
// mountpoint from a /proc/self/mountstats text. Lines look like
//
//	device 10.0.2.2:/local mounted on /tmp/nfs with fstype nfs statvers=1.1
//	...
//	per-op statistics
//	        GETATTR: 10 10 0 1200 1120 0 15 17 0
//
// with the fields ops, transmissions, major timeouts, bytes sent, bytes
// received, queue ms, RTT ms, execute ms [, errors].
func parseMountstats(text, mountpoint string) (ClientOps, bool) {
	ops := ClientOps{}
	in, found := false, false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "device ") {
			f := strings.Fields(line)
			in = len(f) >= 5 && f[3] == "on" && f[4] == mountpoint && strings.Contains(line, "fstype nfs")
			found = found || in
			continue
		}
		if !in {
			continue
		}
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || name == "" || strings.ToUpper(name) != name || strings.ContainsAny(name, " \t") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 8 {
			continue
		}
		var v [8]int64
		valid := true
		for i := range v {
			n, err := strconv.ParseInt(f[i], 10, 64)
			valid = valid && err == nil && n >= 0
			v[i] = n
		}
		if !valid || v[0] == 0 {
			continue
		}
		ops[name] = ClientOp{Calls: v[0], RTT: time.Duration(v[6]) * time.Millisecond, Execute: time.Duration(v[7]) * time.Millisecond}
	}
	return ops, found
}

// Sub is what happened between two snapshots.
func (c ClientOps) Sub(before ClientOps) ClientOps {
	d := ClientOps{}
	for name, a := range c {
		b := before[name]
		if x := (ClientOp{Calls: a.Calls - b.Calls, RTT: a.RTT - b.RTT, Execute: a.Execute - b.Execute}); x.Calls > 0 {
			d[name] = x
		}
	}
	return d
}

// Total adds up every procedure.
func (c ClientOps) Total() ClientOp {
	var t ClientOp
	for _, x := range c {
		t.Calls += x.Calls
		t.RTT += x.RTT
		t.Execute += x.Execute
	}
	return t
}

// Top names the k procedures with the most calls, with their mean round trip.
func (c ClientOps) Top(k int) string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if c[names[i]].Calls != c[names[j]].Calls {
			return c[names[i]].Calls > c[names[j]].Calls
		}
		return names[i] < names[j]
	})
	var parts []string
	for i, n := range names {
		if i == k {
			break
		}
		x := c[n]
		parts = append(parts, fmt.Sprintf("%s %d (%s)", n, x.Calls, formatDuration(x.RTT/time.Duration(x.Calls))))
	}
	return strings.Join(parts, ", ")
}
