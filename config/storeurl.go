package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// StoreScheme names the kind of object store an export lives on.
type StoreScheme string

const (
	// SchemeFile is a local directory (the embedded default): file://DIR.
	SchemeFile StoreScheme = "file"
	// SchemeS3 is an S3 bucket and key prefix: s3://BUCKET/PREFIX.
	SchemeS3 StoreScheme = "s3"
	// SchemeMemory is an in-process store, lost on exit (tests): memory://[LABEL].
	SchemeMemory StoreScheme = "memory"
)

// ErrBadStoreURL is matched (errors.Is) by every error of ParseStoreURL.
var ErrBadStoreURL = errors.New("bad store URL")

// StoreURL is an export's store, parsed. The grammar is:
//
//	file://DIR             DIR is a filesystem path taken literally (no %-escapes,
//	                       no ~ expansion): file:///var/lib/zerofs/a is absolute,
//	                       file://data/a and file://../data/a are relative to
//	                       the base directory given to ParseStoreURL (Load uses
//	                       the config file's directory).
//	s3://BUCKET/PREFIX     the export's objects live under PREFIX/ in BUCKET;
//	s3://BUCKET            the whole bucket;
//	s3:///PREFIX           the default bucket (s3.bucket, AWS_S3_BUCKET, "slatedb").
//	memory://[LABEL]       an in-process store; LABEL only names it in logs.
//
// A PREFIX has no empty, "." or ".." segments; one trailing slash is dropped.
// Credentials never go in the URL (use the export's s3 table).
type StoreURL struct {
	Scheme StoreScheme
	// Dir is the directory of a file store, cleaned; absolute once a base
	// directory was given (or the URL was absolute).
	Dir string
	// Bucket of an s3 store; empty means the default bucket (Load fills it in).
	Bucket string
	// Prefix of an s3 store, without leading or trailing slash; empty means the
	// whole bucket. For a memory store, its label.
	Prefix string
}

// String renders the URL in the canonical form that ParseStoreURL reads back.
func (u StoreURL) String() string {
	switch u.Scheme {
	case SchemeFile:
		return "file://" + u.Dir
	case SchemeS3:
		if u.Prefix == "" {
			return "s3://" + u.Bucket
		}
		return "s3://" + u.Bucket + "/" + u.Prefix
	case SchemeMemory:
		return "memory://" + u.Prefix
	}
	return ""
}

// ParseStoreURL parses an export's store URL. A relative file:// directory is
// joined to baseDir when baseDir is not empty. Errors never repeat the URL (it
// may hold credentials by mistake); the caller names the key.
func ParseStoreURL(raw, baseDir string) (StoreURL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return StoreURL{}, fmt.Errorf("%w: want file://DIR, s3://BUCKET/PREFIX or memory://", ErrBadStoreURL)
	}
	if i := strings.IndexFunc(raw, isControl); i >= 0 {
		return StoreURL{}, fmt.Errorf("%w: control character at byte %d", ErrBadStoreURL, i)
	}
	switch StoreScheme(scheme) {
	case SchemeFile:
		return parseFileURL(rest, baseDir)
	case SchemeS3:
		return parseS3URL(rest)
	case SchemeMemory:
		return StoreURL{Scheme: SchemeMemory, Prefix: rest}, nil
	}
	return StoreURL{}, fmt.Errorf("%w: unknown scheme %q (want file, s3 or memory)", ErrBadStoreURL, redactScheme(scheme))
}

func parseFileURL(p, baseDir string) (StoreURL, error) {
	if p == "" {
		return StoreURL{}, fmt.Errorf("%w: file:// needs a directory, e.g. file:///var/lib/zerofs/team-a", ErrBadStoreURL)
	}
	dir := filepath.Clean(p)
	if !filepath.IsAbs(dir) && baseDir != "" {
		dir = filepath.Join(baseDir, dir)
		if strings.ContainsFunc(dir, isControl) {
			return StoreURL{}, fmt.Errorf("%w: base directory has a control character", ErrBadStoreURL)
		}
	}
	if dir == "~" || strings.HasPrefix(dir, "~/") {
		return StoreURL{}, fmt.Errorf("%w: ~ is not expanded; write the directory out in full", ErrBadStoreURL)
	}
	return StoreURL{Scheme: SchemeFile, Dir: dir}, nil
}

func parseS3URL(rest string) (StoreURL, error) {
	if rest == "" || rest == "/" {
		return StoreURL{}, fmt.Errorf("%w: s3:// needs a bucket or a prefix: s3://BUCKET/PREFIX or s3:///PREFIX", ErrBadStoreURL)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(bucket, "@") {
		return StoreURL{}, fmt.Errorf("%w: credentials do not belong in the store URL; set them in the export's s3 table or the environment", ErrBadStoreURL)
	}
	if bucket != "" {
		if err := checkBucketName(bucket); err != nil {
			return StoreURL{}, fmt.Errorf("%w: %w", ErrBadStoreURL, err)
		}
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		for seg := range strings.SplitSeq(prefix, "/") {
			switch seg {
			case "":
				return StoreURL{}, fmt.Errorf("%w: prefix has an empty segment (//)", ErrBadStoreURL)
			case ".", "..":
				return StoreURL{}, fmt.Errorf("%w: prefix has a %q segment", ErrBadStoreURL, seg)
			}
		}
	}
	if bucket == "" && prefix == "" {
		return StoreURL{}, fmt.Errorf("%w: s3:/// needs a prefix after the third slash", ErrBadStoreURL)
	}
	return StoreURL{Scheme: SchemeS3, Bucket: bucket, Prefix: prefix}, nil
}

// ErrBadBucketName is matched by errors of bucket name checks.
var ErrBadBucketName = errors.New("bad bucket name")

// checkBucketName applies S3's bucket naming rules: 3 to 63 characters of
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no "..", not shaped like an IPv4 address.
func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%w: %q must be 3 to 63 characters long", ErrBadBucketName, b)
	}
	digitsAndDots := true
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c == '-':
			digitsAndDots = false
		case c >= '0' && c <= '9', c == '.':
		default:
			return fmt.Errorf("%w: %q may hold only lower-case letters, digits, '.' and '-'", ErrBadBucketName, b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("%w: %q must start and end with a letter or digit", ErrBadBucketName, b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("%w: %q must not contain \"..\"", ErrBadBucketName, b)
	}
	if digitsAndDots && strings.Count(b, ".") == 3 {
		return fmt.Errorf("%w: %q must not look like an IP address", ErrBadBucketName, b)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// redactScheme keeps an unknown scheme short and free of anything that looks
// like user:password.
func redactScheme(s string) string {
	if strings.ContainsAny(s, "@:") || len(s) > 16 {
		return "..."
	}
	return s
}

// within reports whether child is parent or lies inside it, on '/' segment
// boundaries ("a/b" is within "a", "ab" is not; everything is within "" and
// every absolute path within "/").
func within(child, parent string) bool {
	if parent == "" || child == parent {
		return true
	}
	parent = strings.TrimSuffix(parent, "/")
	return child == parent || strings.HasPrefix(child, parent+"/")
}
