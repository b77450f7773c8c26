package s3proxy

import (
	"reflect"
	"strings"
	"testing"
)

func TestMetricsRoundTrip(t *testing.T) {
	s := Stats{
		{Bucket: "zerofs-s3", Method: "PUT"}:  {Requests: 3, RequestBytes: 12288},
		{Bucket: "zerofs-s3", Method: "GET"}:  {Requests: 7, ResponseBytes: 40000},
		{Bucket: `we"ird`, Method: "HEAD"}:    {Requests: 1},
		{Bucket: "", Method: "GET"}:           {Requests: 2, ResponseBytes: 300},
		{Bucket: "s3fs", Method: "DELETE"}:    {Requests: 5, RequestBytes: 1, ResponseBytes: 2},
		{Bucket: "s3fs", Method: "POST"}:      {},
		{Bucket: "rclone", Method: "OPTIONS"}: {Requests: 1},
	}
	var b strings.Builder
	if err := s.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, `s3proxy_requests_total{bucket="zerofs-s3",method="PUT"} 3`) {
		t.Errorf("page lacks the PUT counter:\n%s", page)
	}
	got, err := ParseMetrics("# other stuff\nzerofs_x{export=\"a\"} 3\n\n" + page)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("ParseMetrics(WriteMetrics(s)) = %v, want %v", got, s)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, page := range []string{
		`s3proxy_requests_total{bucket="a",method="GET"} x`,
		`s3proxy_requests_total{bucket="a",method="GET"} -1`,
		`s3proxy_requests_total{method="GET",bucket="a"} 1`,
		`s3proxy_requests_total{bucket="a} 1`,
		`s3proxy_requests_total{bucket="a",method="GET" 1`,
	} {
		if s, err := ParseMetrics(page); err == nil {
			t.Errorf("ParseMetrics(%q) = %v, want an error", page, s)
		}
	}
}

func TestStatsSubAndBucket(t *testing.T) {
	before := Stats{
		{"b", "PUT"}: {Requests: 1, RequestBytes: 10},
		{"b", "GET"}: {Requests: 4, ResponseBytes: 40},
		{"c", "GET"}: {Requests: 9},
	}
	after := Stats{
		{"b", "PUT"}:  {Requests: 3, RequestBytes: 30},
		{"b", "GET"}:  {Requests: 4, ResponseBytes: 40},
		{"b", "HEAD"}: {Requests: 2},
		{"c", "GET"}:  {Requests: 10, ResponseBytes: 5},
	}
	d := after.Sub(before)
	want := Stats{
		{"b", "PUT"}:  {Requests: 2, RequestBytes: 20},
		{"b", "HEAD"}: {Requests: 2},
		{"c", "GET"}:  {Requests: 1, ResponseBytes: 5},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Sub = %v, want %v", d, want)
	}
	by, total := d.Bucket("b")
	if total != (Counts{Requests: 4, RequestBytes: 20}) || len(by) != 2 || by["PUT"].Requests != 2 || by["HEAD"].Requests != 2 {
		t.Errorf("Bucket(b) = %v, %+v", by, total)
	}
	if by, total := d.Bucket("none"); len(by) != 0 || total != (Counts{}) {
		t.Errorf("Bucket(none) = %v, %+v; want nothing", by, total)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(`s3proxy_requests_total{bucket="a",method="GET"} 1`)
	f.Add("# TYPE x counter\ns3proxy_response_body_bytes_total{bucket=\"\",method=\"PUT\"} 99\n")
	f.Fuzz(func(t *testing.T, page string) {
		s, err := ParseMetrics(page)
		if err != nil {
			return
		}
		var b strings.Builder
		if err := s.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		back, err := ParseMetrics(b.String())
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		for k, c := range s {
			if back[k] != c {
				t.Fatalf("%v: %+v became %+v", k, c, back[k])
			}
		}
	})
}
