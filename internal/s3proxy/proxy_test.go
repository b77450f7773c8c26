package s3proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upstream is a stand-in S3 server: it answers every request with its
// method, Host header and the length of the body it read, and a listing
// (a GET with list-type) with a long body.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Query().Has("list-type") {
			io.WriteString(w, strings.Repeat("<Contents/>", 100))
			return
		}
		io.WriteString(w, r.Method+" "+r.Host+" "+string(rune('0'+len(body)%10)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func startProxy(t *testing.T, opts Options) *Proxy {
	t.Helper()
	p, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func do(t *testing.T, method, url, body string) (*http.Response, string, time.Duration) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "signed-for:1234"
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b), time.Since(start)
}

func TestLatencyPerMethod(t *testing.T) {
	up := upstream(t)
	lat, err := ParseLatency("put=120ms,get=60ms")
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, Options{Upstream: up.URL, Latency: lat})
	// A server with no latency takes well under these bounds on loopback;
	// with it, no request may take less than its method's latency.
	tests := []struct {
		method string
		min    time.Duration
	}{
		{http.MethodGet, 60 * time.Millisecond},
		{http.MethodHead, 60 * time.Millisecond},
		{http.MethodPut, 120 * time.Millisecond},
		{http.MethodPost, 120 * time.Millisecond},
		{http.MethodDelete, 120 * time.Millisecond},
	}
	for _, tt := range tests {
		resp, body, took := do(t, tt.method, p.Endpoint()+"/bucket/key", "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", tt.method, resp.StatusCode)
		}
		if tt.method != http.MethodHead && body != tt.method+" signed-for:1234 0" {
			t.Errorf("%s: upstream saw %q, want the method and the client's Host header", tt.method, body)
		}
		if took < tt.min {
			t.Errorf("%s took %v, want at least %v", tt.method, took, tt.min)
		}
	}
	if p.Latency() != lat {
		t.Errorf("Latency() = %+v, want %+v", p.Latency(), lat)
	}
}

func TestStatsCountRequestsAndBodies(t *testing.T) {
	up := upstream(t)
	p := startProxy(t, Options{Upstream: "http://" + strings.TrimPrefix(up.URL, "http://")})
	do(t, http.MethodPut, p.Endpoint()+"/b1/some/key", "0123456789")
	do(t, http.MethodPut, p.Endpoint()+"/b1/other", "abc")
	_, body, _ := do(t, http.MethodGet, p.Endpoint()+"/b1/some/key", "")
	do(t, http.MethodHead, p.Endpoint()+"/b2/x", "")
	do(t, http.MethodGet, p.Endpoint()+"/", "")
	want := Stats{
		{"b1", "PUT"}:  {Requests: 2, RequestBytes: 13, ResponseBytes: int64(2 * len("PUT signed-for:1234 0"))},
		{"b1", "GET"}:  {Requests: 1, ResponseBytes: int64(len(body))},
		{"b2", "HEAD"}: {Requests: 1},
		{"", "GET"}:    {Requests: 1, ResponseBytes: int64(len(body))},
	}
	// The handler counts after it has written the answer: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	var got Stats
	for {
		got = p.Stats()
		if len(got) == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("%v: %+v, want %+v", k, got[k], c)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stats %v, want %v", got, want)
	}
	rec := httptest.NewRecorder()
	p.ServeMetrics(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parsed, err := ParseMetrics(rec.Body.String())
	if err != nil || parsed[Key{"b1", "PUT"}] != want[Key{"b1", "PUT"}] {
		t.Errorf("ServeMetrics page reads back as %v, %v", parsed, err)
	}
}

func TestFaults(t *testing.T) {
	up := upstream(t)
	p := startProxy(t, Options{Upstream: up.URL, Seed: 1, Rates: Rates{Fault503: 1}})
	if resp, _, _ := do(t, http.MethodGet, p.Endpoint()+"/b/k", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("faults disabled: status %d, want 200", resp.StatusCode)
	}
	p.SetEnabled(true)
	resp, body, _ := do(t, http.MethodGet, p.Endpoint()+"/b/k", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>SlowDown</Code>") {
		t.Fatalf("rate 1 of 503: status %d body %q", resp.StatusCode, body)
	}
	if p.Injections(Fault503) != 1 || p.Injected() != 1 {
		t.Errorf("Injections(503) = %d, Injected = %d; want 1, 1", p.Injections(Fault503), p.Injected())
	}
	p.SetEnabled(false)

	// A truncated listing: the full Content-Length, part of the body.
	p.TruncateLists(1)
	req, _ := http.NewRequest(http.MethodGet, p.Endpoint()+"/b?list-type=2", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r.Body)
	r.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated listing read: %v, want unexpected EOF", err)
	}
	if p.Injections(FaultTruncate) != 1 {
		t.Errorf("Injections(truncate) = %d, want 1", p.Injections(FaultTruncate))
	}
	if resp, _, _ := do(t, http.MethodGet, p.Endpoint()+"/b?list-type=2", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the listing after the truncated one: status %d", resp.StatusCode)
	}
	if p.Requests() != 4 {
		t.Errorf("Requests() = %d, want 4", p.Requests())
	}
	if !strings.HasPrefix(p.Summary(), "4 requests (4 GET), 500 0, 503 1,") {
		t.Errorf("Summary() = %q", p.Summary())
	}
}

func TestStartRefusesBadUpstream(t *testing.T) {
	for _, up := range []string{"", "http://127.0.0.1:1/path", "https://127.0.0.1:1"} {
		if p, err := Start(Options{Upstream: up}); err == nil {
			p.Close()
			t.Errorf("Start(upstream %q) succeeded", up)
		}
	}
}
