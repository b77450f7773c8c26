package exports_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

// hostKeepingProxy forwards to target keeping the Host header (so SigV4
// signatures made for the proxy verify at the server) and counts requests.
func hostKeepingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		n.Add(1)
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// TestReloadS3ConnectionSettings rotates an S3 export's credentials and
// moves its endpoint with writes acknowledged just before: the open database
// is kept (no second writer fences it), and later requests use the new
// settings — the old key is revoked and the export still flushes.
func TestReloadS3ConnectionSettings(t *testing.T) {
	tests := []struct {
		name     string
		rotate   bool // new credentials, the old ones revoked after the reload
		endpoint bool // through another endpoint
	}{
		{"credential rotation", true, false},
		{"endpoint", false, true},
		{"both", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			env := testenv.S3(t)
			oldKey := testenv.NewS3Account(t)
			a := s3Export("a", "exports/a", env, oldKey.AccessKeyID, oldKey.SecretAccessKey)
			reg := open(t, testConfig(a))
			fs := fsOf(t, reg, "a")
			want := files()
			for i := range 3 {
				want[content("s3", i)] = content("s3", i)
				writeFile(t, fs, content("s3", i), content("s3", i))
			}
			before, _ := reg.ByPath("/a")

			next := a
			var requests *atomic.Int64
			if tc.rotate {
				newKey := testenv.NewS3Account(t)
				next.S3.AccessKeyID, next.S3.SecretAccessKey = newKey.AccessKeyID, config.Secret(newKey.SecretAccessKey)
			}
			if tc.endpoint {
				next.S3.Endpoint, requests = hostKeepingProxy(t, env.Endpoint)
			}
			// Refused for another export: the new settings are not used.
			broken := fileExport("broken", filepath.Join(t.TempDir(), "empty"))
			broken.ReadOnly = true
			if err := reg.Reload(ctx, testConfig(next, broken)); !errors.Is(err, exports.ErrReloadRefused) {
				t.Fatalf("Reload with a broken export: %v, want ErrReloadRefused", err)
			}
			writeFile(t, fs, "refused", "after the refused reload")
			want["refused"] = "after the refused reload"
			if err := fs.Flush(ctx); err != nil {
				t.Fatalf("flush after the refused reload: %v", err)
			}
			if requests != nil && requests.Load() != 0 {
				t.Fatalf("a refused reload's new endpoint saw %d requests", requests.Load())
			}

			if err := reg.Reload(ctx, testConfig(next)); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			after, _ := reg.ByPath("/a")
			if after.FS != fs || after.WriteVerifier != before.WriteVerifier {
				t.Fatalf("the reload reopened the export's database")
			}
			wantFiles(t, fs, want)
			if tc.rotate {
				oldKey.Revoke(t)
			}
			writeFile(t, fs, "after", "after the reload")
			want["after"] = "after the reload"
			if err := fs.Flush(ctx); err != nil {
				t.Fatalf("flush with the new settings: %v", err)
			}
			if requests != nil && requests.Load() == 0 {
				t.Fatalf("the new endpoint saw no request")
			}
			if err := reg.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wantDurable(t, next, want)
		})
	}
}

// TestOpenStoreSendsSessionToken checks that an export's session token
// (AWS_SESSION_TOKEN, with the environment's keys) reaches its S3 requests:
// without it temporary credentials are refused.
func TestOpenStoreSendsSessionToken(t *testing.T) {
	const token = "session-token-of-temporary-keys"
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("X-Amz-Security-Token"))
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	ec := config.Export{
		Name:  "tmp",
		Store: config.StoreURL{Scheme: config.SchemeS3, Bucket: "b", Prefix: "p"},
		S3: config.S3{Endpoint: srv.URL, AllowHTTP: true, Bucket: "b", Region: "us-east-1",
			AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: token},
	}
	// Opening checks the bucket with a request (which this server fails).
	if _, err := exports.OpenStore(context.Background(), ec, nil); err == nil {
		t.Fatal("OpenStore succeeded although every request failed")
	}
	if h, _ := got.Load().(string); h != token {
		t.Errorf("X-Amz-Security-Token = %q, want %q", h, token)
	}
}

// TestOpenS3StoreChecksBucket: opening an S3 export whose bucket is missing
// or whose credentials are refused fails at once with an error naming the
// export, the bucket and the cause. Before, the open went on and failed at
// its first listing (the keyring's), with an error about that listing.
func TestOpenS3StoreChecksBucket(t *testing.T) {
	env := testenv.S3(t)
	const secret = "a-wrong-secret-value"
	tests := []struct {
		name   string
		export func() config.Export
		bucket string
		want   error  // matched with errors.Is, when set
		says   string // in the message
	}{
		{"missing bucket", func() config.Export {
			e := s3Export("a", "exports/a", env, env.AccessKeyID, env.SecretAccessKey)
			e.Store.Bucket, e.S3.Bucket = "no-such-bucket-here", "no-such-bucket-here"
			return e
		}, "no-such-bucket-here", objstore.ErrNoSuchBucket, "does not exist"},
		{"wrong secret", func() config.Export {
			return s3Export("a", "exports/a", env, env.AccessKeyID, secret)
		}, env.Bucket, nil, "credentials (access key id \"" + env.AccessKeyID + "\") are refused"},
		{"unknown key", func() config.Export {
			return s3Export("a", "exports/a", env, "nobody", secret)
		}, env.Bucket, nil, "credentials (access key id \"nobody\") are refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := exports.Open(context.Background(), testConfig(tc.export()), exports.Options{Logger: logger(t)})
			if err == nil {
				reg.Close(context.Background())
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, s := range []string{"export a: opening store s3://" + tc.bucket + "/exports/a", `bucket "` + tc.bucket + `"`, tc.says} {
				if !strings.Contains(msg, s) {
					t.Errorf("Open: %v\nwant it to say %q", err, s)
				}
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("Open: %v: the error shows the secret", err)
			}
		})
	}
}

// TestS3RetriesLogToTheRegistrysLogger: a retried S3 request is logged by
// the registry's logger (so in the daemon's log format), naming the
// export. Before, the store logged to slog.Default(): plain text on
// stderr whatever log_format said, and without the export.
func TestS3RetriesLogToTheRegistrysLogger(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return
		}
		w.WriteHeader(http.StatusNotFound) // not retried: the open fails
	}))
	defer srv.Close()
	ec := s3Export("team", "p", testenv.S3Env{Endpoint: srv.URL, Bucket: "b", Region: "us-east-1"}, "AKIDEXAMPLE", "secret")
	logs := &testenv.SyncBuffer{}
	reg, err := exports.Open(context.Background(), testConfig(ec), exports.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err == nil {
		reg.Close(context.Background())
		t.Fatal("Open succeeded although the store answered only errors")
	}
	var retries int
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if rec["msg"] == "object store request failed; retrying" {
			retries++
			if rec["export"] != "team" {
				t.Errorf("the retry line does not name the export: %s", line)
			}
		}
	}
	if retries != 1 {
		t.Fatalf("%d retry lines in the registry's log, want 1:\n%s", retries, logs)
	}
}
