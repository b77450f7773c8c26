package lsm

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/objstore"
)

// encrypted returns a tune function for runModelWith that seals every
// object and the local journal, with the disk cache below the encryption.
func encrypted(t *testing.T) func(*Options) {
	seal := sealing(t)
	disk, err := cache.OpenDisk(t.TempDir(), 64<<20, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return func(o *Options) {
		seal(o)
		o.DiskCache = disk
		o.CacheNamespace = "model"
	}
}

// sealing returns a function that makes options seal every object and the
// local journal with the keys of a new export (each call: another one).
func sealing(t *testing.T) func(*Options) {
	keys, err := crypt.Open(context.Background(), objstore.NewMemory(), testKeyFile(t), crypt.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sealer := crypt.NewSealer(keys, crypt.Options{Logger: quietLogger()})
	return func(o *Options) {
		o.WrapStore = sealer.Wrap
		o.JournalCipher = sealer
	}
}

func testKeyFile(t *testing.T) crypt.Credential {
	t.Helper()
	path := t.TempDir() + "/key"
	if err := os.WriteFile(path, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := crypt.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestModelEncryptedLocalJournal is TestModelLocalJournal with every
// object and the journal sealed.
func TestModelEncryptedLocalJournal(t *testing.T) {
	ops := 1500
	if testing.Short() {
		ops = 500
	}
	for _, seed := range modelSeeds(t, 1) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModelWith(t, objstore.NewMemory(), seed, modelOps(t, ops), DurabilityLocal, encrypted(t))
		})
	}
}

// TestModelEncrypted runs the randomized model test with crashes on a
// database whose objects are sealed, with the disk cache below the sealing.
func TestModelEncrypted(t *testing.T) {
	ops := 1500
	if testing.Short() {
		ops = 500
	}
	for _, seed := range modelSeeds(t, 1) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModelWith(t, objstore.NewMemory(), seed, modelOps(t, ops), DurabilityBucket, encrypted(t))
		})
	}
}

// TestEncryptedTamperedSST checks that a damaged SST fails reads with
// crypt.ErrTampered (never wrong data), also when the disk cache is below.
func TestEncryptedTamperedSST(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	opts := smallOptions()
	encrypted(t)(&opts)
	opts.BlockCacheBytes = -1
	db := mustOpen(t, mem, opts)
	var b Batch
	for i := 0; i < 50; i++ {
		b.Put([]byte("key-"+strconv.Itoa(i)), []byte("value-"+strconv.Itoa(i)))
	}
	if err := db.Write(ctx, &b, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tables, err := objstore.ListAll(ctx, mem, tablePrefix)
	if err != nil || len(tables) == 0 {
		t.Fatalf("no SST written: %v", err)
	}
	raw, _ := mem.Get(ctx, tables[0].Key)
	raw[len(raw)/2] ^= 1
	_ = mem.Put(ctx, tables[0].Key, raw)

	opts.DiskCache = nil // the damage is in the bucket, under no cached copy
	db = mustOpen(t, mem, opts)
	defer db.Close(ctx)
	failed := 0
	for i := 0; i < 50; i++ {
		v, err := db.Get(ctx, []byte("key-"+strconv.Itoa(i)))
		switch {
		case errors.Is(err, crypt.ErrTampered):
			failed++
		case err != nil:
			t.Fatalf("Get: %v, want crypt.ErrTampered or the value", err)
		case string(v) != "value-"+strconv.Itoa(i):
			t.Fatalf("Get returned wrong data %q", v)
		}
	}
	if failed == 0 {
		t.Fatal("no read noticed the damaged SST")
	}
}

// TestEncryptedTamperedWAL damages a WAL object that recovery must replay:
// the open fails with crypt.ErrTampered naming it, rather than dropping or
// misreading acknowledged writes.
func TestEncryptedTamperedWAL(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	opts := smallOptions()
	encrypted(t)(&opts)
	db := mustOpen(t, mem, opts)
	var b Batch
	b.Put([]byte("k"), []byte("acknowledged"))
	if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	db.kill() // a crash: the write is only in the WAL
	wals, err := objstore.ListAll(ctx, mem, walPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	var size int64
	for _, w := range wals {
		if w.Size > size { // the largest: not a fence (an empty WAL object)
			victim, size = w.Key, w.Size
		}
	}
	if victim == "" {
		t.Fatalf("no WAL object holds the write: %+v", wals)
	}
	raw, _ := mem.Get(ctx, victim)
	raw[len(raw)-20] ^= 1
	_ = mem.Put(ctx, victim, raw)
	_, err = Open(ctx, mem, opts)
	if !errors.Is(err, crypt.ErrTampered) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("open over a damaged WAL object: %v, want crypt.ErrTampered naming %s", err, victim)
	}
}
