package s3proxy

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Key names one counter of Stats.
type Key struct {
	Bucket string // first segment of the request's path; "" for the service (ListBuckets)
	Method string // HTTP method, upper case
}

// Counts are the requests of one Key and the bytes of their bodies.
type Counts struct {
	Requests      int64
	RequestBytes  int64 // request bodies read from clients (uploads)
	ResponseBytes int64 // response bodies sent to clients (downloads, listings)
}

func (c Counts) add(o Counts) Counts {
	return Counts{c.Requests + o.Requests, c.RequestBytes + o.RequestBytes, c.ResponseBytes + o.ResponseBytes}
}

// Stats are request counters by bucket and method.
type Stats map[Key]Counts

// Sub returns s - o, keeping only the keys whose counts changed.
func (s Stats) Sub(o Stats) Stats {
	d := Stats{}
	for k, c := range s {
		p := o[k]
		if x := (Counts{c.Requests - p.Requests, c.RequestBytes - p.RequestBytes, c.ResponseBytes - p.ResponseBytes}); x != (Counts{}) {
			d[k] = x
		}
	}
	return d
}

// Bucket returns the counts of one bucket by method, and their total.
func (s Stats) Bucket(bucket string) (byMethod map[string]Counts, total Counts) {
	byMethod = map[string]Counts{}
	for k, c := range s {
		if k.Bucket == bucket {
			byMethod[k.Method] = byMethod[k.Method].add(c)
			total = total.add(c)
		}
	}
	return byMethod, total
}

// The metric names of WriteMetrics.
const (
	metricRequests      = "s3proxy_requests_total"
	metricRequestBytes  = "s3proxy_request_body_bytes_total"
	metricResponseBytes = "s3proxy_response_body_bytes_total"
)

// WriteMetrics writes s as Prometheus text, three counters per key, in a
// stable order:
//
//	s3proxy_requests_total{bucket="b",method="GET"} 12
//	s3proxy_request_body_bytes_total{bucket="b",method="GET"} 0
//	s3proxy_response_body_bytes_total{bucket="b",method="GET"} 49152
func (s Stats) WriteMetrics(w io.Writer) error {
	keys := make([]Key, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := strings.Compare(a.Bucket, b.Bucket); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# TYPE %s counter\n# TYPE %s counter\n# TYPE %s counter\n", metricRequests, metricRequestBytes, metricResponseBytes)
	for _, k := range keys {
		c := s[k]
		labels := fmt.Sprintf("{bucket=%s,method=%s}", strconv.Quote(k.Bucket), strconv.Quote(k.Method))
		fmt.Fprintf(bw, "%s%s %d\n%s%s %d\n%s%s %d\n", metricRequests, labels, c.Requests,
			metricRequestBytes, labels, c.RequestBytes, metricResponseBytes, labels, c.ResponseBytes)
	}
	return bw.Flush()
}

// ParseMetrics reads what WriteMetrics wrote. Comments, blank lines and
// other metrics are skipped; a line of one of its metrics that does not
// parse is an error.
func ParseMetrics(page string) (Stats, error) {
	s := Stats{}
	for i, line := range strings.Split(page, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != metricRequests && name != metricRequestBytes && name != metricResponseBytes) {
			continue
		}
		k, value, err := parseLabels(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", i+1, line, err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("line %d: %q: value is not a count", i+1, line)
		}
		c := s[k]
		dst := &c.Requests
		switch name {
		case metricRequestBytes:
			dst = &c.RequestBytes
		case metricResponseBytes:
			dst = &c.ResponseBytes
		}
		if *dst+v < *dst {
			return nil, fmt.Errorf("line %d: %q: the sum of its key's counts overflows", i+1, line)
		}
		*dst += v
		s[k] = c
	}
	return s, nil
}

// parseLabels reads `bucket="b",method="GET"} VALUE` (the part after "{").
func parseLabels(rest string) (Key, string, error) {
	var k Key
	for _, label := range []struct {
		name string
		dst  *string
	}{{"bucket", &k.Bucket}, {"method", &k.Method}} {
		after, ok := strings.CutPrefix(rest, label.name+"=")
		if !ok {
			return Key{}, "", fmt.Errorf("want label %s", label.name)
		}
		quoted, err := strconv.QuotedPrefix(after)
		if err != nil {
			return Key{}, "", fmt.Errorf("label %s: %w", label.name, err)
		}
		if *label.dst, err = strconv.Unquote(quoted); err != nil {
			return Key{}, "", fmt.Errorf("label %s: %w", label.name, err)
		}
		rest = strings.TrimPrefix(after[len(quoted):], ",")
	}
	value, ok := strings.CutPrefix(rest, "}")
	if !ok {
		return Key{}, "", fmt.Errorf("want } after the labels")
	}
	return k, value, nil
}
