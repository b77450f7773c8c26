package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestS3VersitygwContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store { return testenv.S3Store(t) })
}

func TestS3VersitygwPrefixContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		opts := testenv.S3(t).Options()
		opts.Prefix = "/exports/team-a"
		s, err := objstore.NewS3(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// newFakeS3 serves an in-process gofakes3 (memory backend) on 127.0.0.1
// and returns its options with a fresh bucket.
func newFakeS3(t *testing.T) objstore.S3Options {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server())
	t.Cleanup(srv.Close)
	return objstore.S3Options{
		Endpoint:        srv.URL,
		Bucket:          "test",
		AccessKeyID:     "fake",
		SecretAccessKey: "fakesecret",
		AllowHTTP:       true,
	}
}

func TestS3GofakesContract(t *testing.T) {
	storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewS3(context.Background(), newFakeS3(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3RefusesPlainHTTP(t *testing.T) {
	const secret = "very-secret-key-material"
	tests := []struct {
		name     string
		opts     objstore.S3Options
		wantErr  string // "" = accepted
		wantHide string
	}{
		{"http refused", objstore.S3Options{Endpoint: "http://127.0.0.1:9000", Bucket: "b", AccessKeyID: "id", SecretAccessKey: secret}, "http://127.0.0.1:9000", secret},
		{"http with user info refused, redacted", objstore.S3Options{Endpoint: "http://user:" + secret + "@127.0.0.1:9000", Bucket: "b"}, "refusing", secret},
		{"http allowed", objstore.S3Options{Endpoint: "http://127.0.0.1:9000", Bucket: "b", AccessKeyID: "id", SecretAccessKey: secret, AllowHTTP: true}, "", ""},
		{"https accepted", objstore.S3Options{Endpoint: "https://127.0.0.1:9000", Bucket: "b", AccessKeyID: "id", SecretAccessKey: secret}, "", ""},
		{"bad scheme", objstore.S3Options{Endpoint: "ftp://127.0.0.1", Bucket: "b", AccessKeyID: "id", SecretAccessKey: secret}, "scheme", secret},
		{"no bucket", objstore.S3Options{Endpoint: "https://127.0.0.1:9000"}, "no bucket", ""},
		{"half credentials", objstore.S3Options{Endpoint: "https://127.0.0.1:9000", Bucket: "b", SecretAccessKey: secret}, "both", secret},
		{"session token without keys", objstore.S3Options{Endpoint: "https://127.0.0.1:9000", Bucket: "b", SessionToken: secret}, "session token", secret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := objstore.NewS3(context.Background(), tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewS3: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewS3 error = %v, want one containing %q", err, tc.wantErr)
			}
			if tc.wantHide != "" && strings.Contains(err.Error(), tc.wantHide) {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
	opts := objstore.S3Options{Endpoint: "https://u:" + secret + "@h", SecretAccessKey: secret, SessionToken: secret}
	if s := fmt.Sprint(opts); strings.Contains(s, secret) {
		t.Fatalf("S3Options prints the secret: %s", s)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("store", "s3", opts)
	if strings.Contains(logged.String(), secret) || !strings.Contains(logged.String(), "s3.endpoint=") {
		t.Fatalf("S3Options logs as %q", logged.String())
	}
}

// scriptedServer answers each request with the next status of script
// (then forever with its last entry; 200 means "forward to the real fake
// S3"), counting requests.
type scriptedServer struct {
	mu       sync.Mutex
	script   []int
	requests atomic.Int64
	next     http.Handler
}

func (s *scriptedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.requests.Add(1)) - 1
	s.mu.Lock()
	status := s.script[min(n, len(s.script)-1)]
	s.mu.Unlock()
	if status == http.StatusOK {
		s.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	if status == -1 { // drop the connection
		hj, ok := w.(http.Hijacker)
		if ok {
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
				return
			}
		}
	}
	codes := map[int]string{500: "InternalError", 503: "SlowDown", 403: "AccessDenied", 404: "NoSuchKey", 400: "InvalidArgument", 429: "TooManyRequests"}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>scripted</Message></Error>`, codes[status])
	}
}

func TestS3RetryPolicy(t *testing.T) {
	tests := []struct {
		name         string
		script       []int
		maxAttempts  int
		wantRequests int64
		wantErr      error // nil: success; errAny: some error
	}{
		{"500 then success", []int{500, 500, 200}, 5, 3, nil},
		{"503 SlowDown then success", []int{503, 200}, 5, 2, nil},
		{"429 then success", []int{429, 200}, 5, 2, nil},
		{"dropped connection then success", []int{-1, 200}, 5, 2, nil},
		{"500 forever gives up", []int{500}, 4, 4, errAny},
		{"403 not retried", []int{403, 200}, 5, 1, errAny},
		{"404 not retried", []int{404, 200}, 5, 1, objstore.ErrNotFound},
		{"400 not retried", []int{400, 200}, 5, 1, errAny},
		{"MaxAttempts 1 means no retry", []int{500, 200}, 1, 1, errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeS3(t)
			real, err := objstore.NewS3(context.Background(), fake)
			if err != nil {
				t.Fatal(err)
			}
			if err := real.Put(context.Background(), "k", []byte("value")); err != nil {
				t.Fatal(err)
			}
			proxy := &scriptedServer{script: tc.script, next: proxyTo(t, fake.Endpoint)}
			srv := httptest.NewServer(proxy)
			t.Cleanup(srv.Close)
			opts := fake
			opts.Endpoint = srv.URL
			opts.MaxAttempts = tc.maxAttempts
			opts.RetryBaseDelay = time.Millisecond
			opts.RetryMaxDelay = 5 * time.Millisecond
			opts.Logger = quietLogger()
			s, err := objstore.NewS3(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(context.Background(), "k")
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Get: %v", err)
			case tc.wantErr == nil && string(got) != "value":
				t.Fatalf("Get = %q, want %q", got, "value")
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Get error = %v, want %v", err, tc.wantErr)
			}
			if n := proxy.requests.Load(); n != tc.wantRequests {
				t.Fatalf("server saw %d requests, want %d", n, tc.wantRequests)
			}
			if err != nil && strings.Contains(err.Error(), opts.SecretAccessKey) {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
}

// TestS3DefaultRetriesRideOutThrottling: with the default retry policy a
// read outlasts a spell of 503 SlowDown answers (here 1.5s) rather than
// failing while the server sheds load.
func TestS3DefaultRetriesRideOutThrottling(t *testing.T) {
	const throttled = 1500 * time.Millisecond
	var (
		once     sync.Once
		start    time.Time
		requests atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		once.Do(func() { start = time.Now() })
		if time.Since(start) < throttled {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		w.Header().Set("Content-Length", "5")
		fmt.Fprint(w, "value")
	}))
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Endpoint: srv.URL, Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret", AllowHTTP: true,
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(context.Background(), "k")
	if err != nil {
		t.Fatalf("Get through %v of SlowDown (%d requests): %v", throttled, requests.Load(), err)
	}
	if string(got) != "value" {
		t.Fatalf("Get = %q, want %q", got, "value")
	}
}

var errAny = errors.New("any error")

// quietLogger drops the retry warnings of tests that provoke them.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// proxyTo forwards requests unchanged to target (signatures stay valid:
// gofakes3 does not check them).
func proxyTo(t *testing.T, target string) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		req.ContentLength = r.ContentLength
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

func TestS3RetryStopsOnCancel(t *testing.T) {
	script := &scriptedServer{script: []int{503}}
	srv := httptest.NewServer(script)
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Endpoint: srv.URL, Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret", AllowHTTP: true,
		MaxAttempts: 1000, RetryBaseDelay: time.Hour, RetryMaxDelay: time.Hour, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "k", []byte("v")) }()
	for script.requests.Load() == 0 { // cancel during the hour-long backoff
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Put during backoff, canceled: %v, want context.Canceled", err)
	}
}

func TestS3AttemptTimeoutIsRetried(t *testing.T) {
	fake := newFakeS3(t)
	var requests atomic.Int64
	next := proxyTo(t, fake.Endpoint)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			select { // hang the first attempt until the client gives up on it
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	opts := fake
	opts.Endpoint = srv.URL
	opts.AttemptTimeout = 200 * time.Millisecond
	opts.Logger = quietLogger()
	opts.RetryBaseDelay = time.Millisecond
	s, err := objstore.NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatalf("Put with a hung first attempt: %v", err)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

// TestS3ConditionalConflictIsRetried: a 409 ConditionalRequestConflict
// means another conditional write of the key was in progress (perhaps our
// own earlier attempt), not that the object exists: it is retried.
func TestS3ConditionalConflictIsRetried(t *testing.T) {
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPut {
			http.Error(w, "unexpected method", http.StatusMethodNotAllowed)
			return
		}
		if puts.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>x</Message></Error>`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Endpoint: srv.URL, Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret", AllowHTTP: true,
		RetryBaseDelay: time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(context.Background(), "k", []byte("v")); err != nil {
		t.Fatalf("PutIfAbsent answered 409 ConditionalRequestConflict, then 200: %v, want nil", err)
	}
	if n := puts.Load(); n != 2 {
		t.Fatalf("server saw %d PUTs, want 2", n)
	}
}

func TestS3CheckBucket(t *testing.T) {
	env := testenv.S3(t)
	opts := env.Options()
	s, err := objstore.NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckBucket(context.Background()); err != nil {
		t.Fatalf("CheckBucket on an existing bucket: %v", err)
	}
	opts.Bucket = "no-such-bucket-here"
	missing, err := objstore.NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = missing.CheckBucket(context.Background())
	if !errors.Is(err, objstore.ErrNoSuchBucket) {
		t.Fatalf("CheckBucket on a missing bucket: %v, want ErrNoSuchBucket", err)
	}
	if _, err := missing.Get(context.Background(), "k"); err == nil || errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get in a missing bucket: %v, want an error that is not ErrNotFound", err)
	}
	opts = env.Options()
	opts.SecretAccessKey = "wrong-secret-value"
	wrong, err := objstore.NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.CheckBucket(context.Background())
	if err == nil || errors.Is(err, objstore.ErrNoSuchBucket) || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("CheckBucket with a wrong secret: %v", err)
	}
}

func TestS3CancelDuringRequest(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // hang until the client goes away
	}))
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Endpoint: srv.URL, Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret", AllowHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Get(ctx, "k"); done <- err }()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get canceled mid-request: %v, want context.Canceled", err)
	}
}

// hostKeepingProxy forwards to target keeping the Host header, so that SigV4
// signatures made for the proxy's address verify at a real server; it counts
// the requests it forwards.
func hostKeepingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		n.Add(1)
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// TestS3SetClient changes a live store's credentials and endpoint: later
// requests use the new client, a client for another bucket is refused, and
// requests running meanwhile never fail.
func TestS3SetClient(t *testing.T) {
	ctx := context.Background()
	env := testenv.S3(t)
	opts := env.Options()
	opts.MaxAttempts = 1
	s, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	newClient := func(o objstore.S3Options) *objstore.S3Client {
		t.Helper()
		c, err := objstore.NewS3Client(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Rotated to a key the server does not know: the next request fails.
	wrong := opts
	wrong.SecretAccessKey = "not-the-secret"
	check(t, s.SetClient(newClient(wrong)))
	if err := s.Put(ctx, "k2", []byte("two")); err == nil {
		t.Fatalf("Put after SetClient with a wrong secret succeeded: the old client is still in use")
	}

	// Rotated to another valid account behind another endpoint.
	acct := testenv.NewS3Account(t)
	proxied, requests := hostKeepingProxy(t, env.Endpoint)
	rotated := opts
	rotated.Endpoint, rotated.AccessKeyID, rotated.SecretAccessKey = proxied, acct.AccessKeyID, acct.SecretAccessKey
	check(t, s.SetClient(newClient(rotated)))
	if err := s.Put(ctx, "k2", []byte("two")); err != nil {
		t.Fatalf("Put after SetClient with the new account: %v", err)
	}
	if got, err := s.Get(ctx, "k1"); err != nil || string(got) != "one" {
		t.Fatalf("Get k1 after SetClient = %q, %v", got, err)
	}
	if requests.Load() < 2 {
		t.Fatalf("the new endpoint saw %d requests, want 2", requests.Load())
	}
	if got := s.Options(); got.Endpoint != proxied || got.AccessKeyID != acct.AccessKeyID {
		t.Fatalf("Options after SetClient: %v", got)
	}

	// A client naming another bucket or prefix is refused; nothing changes.
	for _, o := range []objstore.S3Options{{Bucket: "other-bucket"}, {Bucket: opts.Bucket, Prefix: "elsewhere"}} {
		o.Endpoint, o.AccessKeyID, o.SecretAccessKey, o.AllowHTTP = env.Endpoint, env.AccessKeyID, env.SecretAccessKey, true
		if err := s.SetClient(newClient(o)); err == nil {
			t.Fatalf("SetClient for bucket %q prefix %q accepted", o.Bucket, o.Prefix)
		}
	}
	if s.Options().Endpoint != proxied {
		t.Fatalf("a refused SetClient changed the client")
	}
	// Validation happens before any store is touched.
	plain := opts
	plain.AllowHTTP = false
	if _, err := objstore.NewS3Client(ctx, plain); err == nil {
		t.Fatalf("NewS3Client accepted a plain-HTTP endpoint without AllowHTTP")
	}

	// Swapping between two valid clients while requests run: none fails.
	direct := newClient(opts)
	viaProxy := newClient(rotated)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("c%d-%d", g, i%8)
				if err := s.Put(ctx, key, []byte(key)); err != nil {
					failures.Add(1)
					t.Errorf("Put during client swaps: %v", err)
					return
				}
				if got, err := s.Get(ctx, key); err != nil || string(got) != key {
					failures.Add(1)
					t.Errorf("Get during client swaps = %q, %v", got, err)
					return
				}
			}
		}()
	}
	for i := range 40 {
		c := direct
		if i%2 == 1 {
			c = viaProxy
		}
		check(t, s.SetClient(c))
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestS3SessionTokenIsSent checks that temporary credentials work: every
// request carries the session token (X-Amz-Security-Token), which the
// server needs to accept the temporary key.
func TestS3SessionTokenIsSent(t *testing.T) {
	const token = "session-token-of-temporary-keys"
	tests := []struct {
		name, token string
	}{
		{"temporary credentials", token},
		{"static credentials", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("X-Amz-Security-Token"))
				mu.Unlock()
				w.WriteHeader(http.StatusNotFound)
			}))
			defer srv.Close()
			s, err := objstore.NewS3(context.Background(), objstore.S3Options{
				Endpoint: srv.URL, AllowHTTP: true, Bucket: "b", AccessKeyID: "ASIAEXAMPLE",
				SecretAccessKey: "secret", SessionToken: tc.token, MaxAttempts: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Head(context.Background(), "k"); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Head = %v, want ErrNotFound", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 {
				t.Fatal("no request reached the server")
			}
			for i, h := range got {
				if h != tc.token {
					t.Errorf("request %d: X-Amz-Security-Token = %q, want %q", i, h, tc.token)
				}
			}
		})
	}
}
