package testenv_test

import (
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestS3FreshBuckets(t *testing.T) {
	a, b := testenv.S3(t), testenv.S3(t)
	if a.Bucket == b.Bucket {
		t.Fatalf("two calls gave the same bucket %q", a.Bucket)
	}
	if a.Endpoint != b.Endpoint {
		t.Fatalf("two calls started two servers: %s and %s", a.Endpoint, b.Endpoint)
	}
	ctx := context.Background()
	s := testenv.S3Store(t)
	if err := s.Put(ctx, "hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "hello")
	if err != nil || string(got) != "world" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	other := testenv.S3Store(t)
	page, err := other.List(ctx, "", objstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 0 {
		t.Fatalf("fresh bucket holds %d objects", len(page.Objects))
	}
}

func TestS3AccountRotation(t *testing.T) {
	ctx := context.Background()
	env := testenv.S3(t)
	acct := testenv.NewS3Account(t)
	opts := env.Options()
	opts.AccessKeyID, opts.SecretAccessKey = acct.AccessKeyID, acct.SecretAccessKey
	opts.MaxAttempts = 1
	s, err := objstore.NewS3(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with the extra account: %v", err)
	}
	acct.Revoke(t)
	if err := s.Put(ctx, "k2", []byte("v")); err == nil {
		t.Fatalf("Put with a revoked account succeeded")
	}
	root, err := objstore.NewS3(ctx, env.Options())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := root.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("the root account reads %q, %v", got, err)
	}
}
