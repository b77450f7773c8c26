package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStoreURL(t *testing.T) {
	cases := []struct {
		raw, base string
		want      StoreURL
		wantErr   string // substring; "" = must succeed
	}{
		{raw: "file:///var/lib/zerofs/a", want: StoreURL{Scheme: SchemeFile, Dir: "/var/lib/zerofs/a"}},
		{raw: "file:///var/lib/zerofs/a/", base: "/etc", want: StoreURL{Scheme: SchemeFile, Dir: "/var/lib/zerofs/a"}},
		{raw: "file://data/a", base: "/etc/zerofs", want: StoreURL{Scheme: SchemeFile, Dir: "/etc/zerofs/data/a"}},
		{raw: "file://../data/a", base: "/repo/examples", want: StoreURL{Scheme: SchemeFile, Dir: "/repo/data/a"}},
		{raw: "file://./x/../y", want: StoreURL{Scheme: SchemeFile, Dir: "y"}},
		{raw: "file://", wantErr: "needs a directory"},
		{raw: "file://~/z", wantErr: "~ is not expanded"},
		{raw: "s3://bucket/prefix/deeper", want: StoreURL{Scheme: SchemeS3, Bucket: "bucket", Prefix: "prefix/deeper"}},
		{raw: "s3://bucket/prefix/", want: StoreURL{Scheme: SchemeS3, Bucket: "bucket", Prefix: "prefix"}},
		{raw: "s3://bucket", want: StoreURL{Scheme: SchemeS3, Bucket: "bucket"}},
		{raw: "s3://bucket/", want: StoreURL{Scheme: SchemeS3, Bucket: "bucket"}},
		{raw: "s3:///team-a", want: StoreURL{Scheme: SchemeS3, Prefix: "team-a"}},
		{raw: "s3://my.bucket-1/a b", want: StoreURL{Scheme: SchemeS3, Bucket: "my.bucket-1", Prefix: "a b"}},
		{raw: "s3://", wantErr: "needs a bucket or a prefix"},
		{raw: "s3:///", wantErr: "needs a bucket or a prefix"},
		{raw: "s3:////x", wantErr: "empty segment"},
		{raw: "s3://b1/x", wantErr: "3 to 63"},
		{raw: "s3://" + strings.Repeat("b", 64) + "/x", wantErr: "3 to 63"},
		{raw: "s3://Bucket/x", wantErr: "lower-case"},
		{raw: "s3://-bucket/x", wantErr: "start and end"},
		{raw: "s3://a..b/x", wantErr: `".."`},
		{raw: "s3://192.168.1.1/x", wantErr: "IP address"},
		{raw: "s3://bucket/a//b", wantErr: "empty segment"},
		{raw: "s3://bucket/a/../b", wantErr: `".." segment`},
		{raw: "s3://bucket/./b", wantErr: `"." segment`},
		{raw: "s3://key:secret@bucket/p", wantErr: "credentials do not belong"},
		{raw: "s3://bucket/a\nb", wantErr: "control character"},
		{raw: "memory://", want: StoreURL{Scheme: SchemeMemory}},
		{raw: "memory://team-a", want: StoreURL{Scheme: SchemeMemory, Prefix: "team-a"}},
		{raw: "S3://bucket/p", wantErr: "unknown scheme"},
		{raw: "gs://bucket/p", wantErr: "unknown scheme"},
		{raw: "/var/lib/zerofs", wantErr: "want file://DIR"},
		{raw: "", wantErr: "want file://DIR"},
	}
	for _, tc := range cases {
		got, err := ParseStoreURL(tc.raw, tc.base)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseStoreURL(%q) error = %v, want one containing %q", tc.raw, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadStoreURL) {
				t.Errorf("ParseStoreURL(%q) error does not match ErrBadStoreURL", tc.raw)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseStoreURL(%q) error repeats the credentials: %v", tc.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseStoreURL(%q): %v", tc.raw, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseStoreURL(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		child, parent string
		want          bool
	}{
		{"a", "a", true},
		{"a/b", "a", true},
		{"ab", "a", false},
		{"a", "a/b", false},
		{"anything", "", true},
		{"/x/y", "/", true},
		{"/x", "/x/", true},
		{"/xy", "/x", false},
	}
	for _, tc := range cases {
		if got := within(tc.child, tc.parent); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.child, tc.parent, got, tc.want)
		}
	}
}

// FuzzParseStoreURL checks that parsing never panics, that what parses is in
// canonical shape, and that String() reads back to the same StoreURL.
func FuzzParseStoreURL(f *testing.F) {
	for _, seed := range []string{
		"file:///var/lib/zerofs/a", "file://data/a", "file://../x", "file://", "file://~",
		"s3://bucket/prefix/deeper/", "s3:///p", "s3://bucket", "s3://", "s3://a@b/c",
		"s3://bucket/a//b", "s3://bucket/..", "memory://", "memory://x", "ftp://x", "", "://",
		"s3://1.2.3.4/x", "s3://b-b.c/\x00",
	} {
		f.Add(seed, "")
		f.Add(seed, "/etc/zerofs")
	}
	f.Fuzz(func(t *testing.T, raw, base string) {
		u, err := ParseStoreURL(raw, base)
		if err != nil {
			if !errors.Is(err, ErrBadStoreURL) {
				t.Fatalf("ParseStoreURL(%q) error %v does not match ErrBadStoreURL", raw, err)
			}
			return
		}
		switch u.Scheme {
		case SchemeFile:
			if u.Dir == "" || filepath.Clean(u.Dir) != u.Dir {
				t.Fatalf("ParseStoreURL(%q): dir %q not clean", raw, u.Dir)
			}
		case SchemeS3:
			if strings.HasPrefix(u.Prefix, "/") || strings.HasSuffix(u.Prefix, "/") || strings.Contains(u.Prefix, "//") {
				t.Fatalf("ParseStoreURL(%q): prefix %q not canonical", raw, u.Prefix)
			}
			if u.Bucket == "" && u.Prefix == "" {
				t.Fatalf("ParseStoreURL(%q): neither bucket nor prefix", raw)
			}
			if u.Bucket != "" && checkBucketName(u.Bucket) != nil {
				t.Fatalf("ParseStoreURL(%q): bad bucket %q accepted", raw, u.Bucket)
			}
		case SchemeMemory:
		default:
			t.Fatalf("ParseStoreURL(%q): scheme %q", raw, u.Scheme)
		}
		// Reading back the canonical form (no base: it is already resolved) gives the same.
		back, err := ParseStoreURL(u.String(), "")
		if err != nil {
			t.Fatalf("ParseStoreURL(%q).String() = %q does not parse: %v", raw, u.String(), err)
		}
		if back != u {
			t.Fatalf("round trip of %q: %+v, then %q gives %+v", raw, u, u.String(), back)
		}
	})
}

func BenchmarkParseStoreURL(b *testing.B) {
	for b.Loop() {
		if _, err := ParseStoreURL("s3://my-bucket/zerofs/teams/a", ""); err != nil {
			b.Fatal(err)
		}
	}
}
