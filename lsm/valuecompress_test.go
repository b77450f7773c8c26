package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal/memfs"
	"github.com/zerofs-go/zerofsd/lsm/wal"
	"github.com/zerofs-go/zerofsd/objstore"
)

// chunkValue is a 4 KiB value of key: text (about 0.6 of its size with
// snappy, less with zstd) or random bytes, which no codec shrinks.
func chunkValue(key string, text bool) []byte {
	r := rand.New(rand.NewPCG(uint64(len(key)), uint64(key[len(key)-1])))
	b := make([]byte, 0, 4096)
	if !text {
		for len(b) < 4096 {
			b = append(b, byte(r.Uint32()))
		}
		return b
	}
	words := strings.Fields("the of and to in is that value write read object store bucket block pointer chunk offset")
	b = append(b, key...)
	for len(b) < 4096 {
		b = fmt.Appendf(b, " %s %d", words[r.IntN(len(words))], r.IntN(1000))
	}
	return b[:4096]
}

// checkChunks reads every key with Get and a scan and checks its value
// (and ValueLen) is chunkValue's.
func checkChunks(t *testing.T, db *DB, keys []string, text bool) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		v, err := db.Get(ctx, []byte(k))
		if err != nil || !bytes.Equal(v, chunkValue(k, text)) {
			t.Fatalf("Get(%s) = %d bytes, %v; not its value", k, len(v), err)
		}
	}
	it, err := db.NewIterator(ctx, []byte("key-"), []byte("key."))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		k := string(it.Key())
		if it.ValueLen() != 4096 || !bytes.Equal(it.Value(), chunkValue(k, text)) {
			t.Fatalf("scan: %s: ValueLen %d, value of %d bytes, not its value", k, it.ValueLen(), len(it.Value()))
		}
		n++
	}
	if err := it.Close(); err != nil || n != len(keys) {
		t.Fatalf("scan: %d keys of %d, %v", n, len(keys), err)
	}
}

// TestValueCompressionInTheStore: 4 KiB text values written in one batch
// take much less room in the WAL object (and so in the bucket) with snappy
// or zstd than without; random values take exactly as much (stored plain,
// no marker). Either way they read back (memtable, pointers, reopen), and
// the SSTs' pointers count the stored bytes.
func TestValueCompressionInTheStore(t *testing.T) {
	ctx := context.Background()
	keys := keyList(200)
	for _, text := range []bool{true, false} {
		walBytes := map[compress.Codec]int64{}
		for _, codec := range []compress.Codec{compress.None, compress.Snappy, compress.Zstd} {
			t.Run(fmt.Sprintf("text=%v/%s", text, codec), func(t *testing.T) {
				mem := objstore.NewMemory()
				opts := valueOptions()
				opts.Compression = codec
				db := mustOpen(t, mem, opts)
				var b Batch
				for _, k := range keys {
					b.Put([]byte(k), chunkValue(k, text))
				}
				before := db.Stats().WALBytes
				if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: true}); err != nil {
					t.Fatal(err)
				}
				walBytes[codec] = db.Stats().WALBytes - before
				checkChunks(t, db, keys, text)
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
				checkChunks(t, db, keys, text)
				u, err := db.Usage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if u.ReferencedValueBytes >= walBytes[codec] || u.ReferencedValueBytes < walBytes[codec]*9/10 {
					t.Fatalf("the SSTs point at %d bytes of values in a WAL object of %d", u.ReferencedValueBytes, walBytes[codec])
				}
				if err := db.Close(ctx); err != nil {
					t.Fatal(err)
				}
				db = mustOpen(t, mem, opts)
				defer db.Close(ctx)
				checkChunks(t, db, keys, text)
			})
		}
		plain := float64(walBytes[compress.None])
		t.Logf("text=%v: WAL bytes none %d, snappy %d (%.2f), zstd %d (%.2f)", text, walBytes[compress.None],
			walBytes[compress.Snappy], float64(walBytes[compress.Snappy])/plain, walBytes[compress.Zstd], float64(walBytes[compress.Zstd])/plain)
		for _, codec := range []compress.Codec{compress.Snappy, compress.Zstd} {
			got := walBytes[codec]
			if text && float64(got) > 0.75*plain {
				t.Errorf("text with %s: %d WAL bytes, want at most 3/4 of the %d without compression", codec, got, walBytes[compress.None])
			}
			if !text && got != walBytes[compress.None] {
				t.Errorf("random bytes with %s: %d WAL bytes, want exactly the %d without compression", codec, got, walBytes[compress.None])
			}
		}
	}
}

// TestCompressedValuesAfterCrash: compressed values only in WAL objects
// when the writer dies are replayed (decoded into the memtable, their
// stored form remembered), read by a read-only database and a replica
// meanwhile, written
// out as pointers to the compressed form, and relocated as they are by a
// value compaction.
func TestCompressedValuesAfterCrash(t *testing.T) {
	ctx := context.Background()
	for _, codec := range []compress.Codec{compress.Snappy, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			mem := objstore.NewMemory()
			opts := valueOptions()
			opts.Compression = codec
			db := mustOpen(t, mem, opts)
			keys := keyList(100)
			for i := 0; i < len(keys); i += 10 {
				// Batches of 10: each WAL object holds whole ones, so
				// each is at most a fifth live after the overwrites below.
				var b Batch
				for _, k := range keys[i : i+10] {
					b.Put([]byte(k), chunkValue(k, true))
				}
				if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: true}); err != nil {
					t.Fatal(err)
				}
			}
			db.kill()

			ro, err := OpenReadOnly(ctx, mem, ReadOnlyOptions{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			checkChunks(t, ro, keys, true)
			ro.Close(ctx)
			rep, err := OpenReplica(ctx, mem, ReplicaOptions{ID: "r", Poll: time.Hour, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			vw, err := rep.View()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if v, err := vw.Get(ctx, []byte(k)); err != nil || !bytes.Equal(v, chunkValue(k, true)) {
					t.Fatalf("replica: Get(%s) = %d bytes, %v; not its value", k, len(v), err)
				}
			}
			vw.Release()
			rep.Close(ctx)

			db = mustOpen(t, mem, opts)
			checkChunks(t, db, keys, true)
			if err := db.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			checkChunks(t, db, keys, true)
			u, err := db.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if plain := int64(len(keys) * 4096); u.ReferencedValueBytes > plain*3/4 {
				t.Fatalf("after replay the SSTs point at %d stored bytes for %d of values: not the compressed form", u.ReferencedValueBytes, plain)
			}
			// Overwrite most keys with random values (stored plain): the
			// compressed rest is relocated into a value object as it is.
			for i, k := range keys {
				if i%5 != 0 {
					if err := db.Put(ctx, []byte(k), chunkValue(k, false), WriteOptions{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := db.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := db.RunGC(ctx)
			if err != nil || !res.ValueCompaction {
				t.Fatalf("GC: %+v, %v; want a value compaction", res, err)
			}
			var valueObjBytes int64
			objs, err := listAll(ctx, mem, valuePrefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				valueObjBytes += o.Size
			}
			if relocated := db.Stats().ValueBytesRelocated; relocated == 0 || relocated > 20*4096*3/4 || valueObjBytes > relocated+1024 {
				t.Fatalf("relocated %d bytes into %d bytes of value objects for 20 compressed values of 4 KiB", relocated, valueObjBytes)
			}
			check := func(db *DB) {
				t.Helper()
				for i, k := range keys {
					v, err := db.Get(ctx, []byte(k))
					if err != nil || !bytes.Equal(v, chunkValue(k, i%5 == 0)) {
						t.Fatalf("Get(%s) = %d bytes, %v; not its value", k, len(v), err)
					}
				}
			}
			check(db)
			if err := db.Close(ctx); err != nil {
				t.Fatal(err)
			}
			db = mustOpen(t, mem, opts)
			defer db.Close(ctx)
			check(db)
		})
	}
}

// TestCompressedValuesLocalJournal: with local durability, the journal
// holds the WAL records with their compressed values; after a crash of the
// machine the journal's tail is shipped and replayed.
func TestCompressedValuesLocalJournal(t *testing.T) {
	ctx := context.Background()
	jfs := memfs.New(7)
	store := objstore.NewMemory()
	opts := localOptions(jfs, "/journal")
	opts.Compression = compress.Zstd
	opts.ValueThreshold = 64
	opts.MemtableBytes = 1 << 20
	db := mustOpen(t, store, opts)
	keys := keyList(50)
	for _, k := range keys {
		if err := db.Put(ctx, []byte(k), chunkValue(k, true), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.Stats().WALPuts; n > 1 {
		t.Fatalf("%d WAL PUTs: the test wants the writes in the journal alone", n)
	}
	db.kill()
	jfs.Crash(true)
	db = mustOpen(t, store, opts)
	defer db.Close(ctx)
	if shipped, plain := db.Stats().WALBytes, int64(len(keys)*4096); shipped == 0 || shipped > plain/2 {
		t.Fatalf("recovery shipped %d bytes of WAL objects for %d bytes of values: not the compressed records", shipped, plain)
	}
	checkChunks(t, db, keys, true)
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	checkChunks(t, db, keys, true)
}

// TestCorruptCompressedWALEntry: a WAL object whose records pass their
// checksums but hold a compressed value that does not decode stops Open
// with ErrCorrupt naming the object; nothing is guessed.
func TestCorruptCompressedWALEntry(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"garbage snappy", []byte{byte(compress.Snappy), 50, 1, 2, 3}},
		{"garbage zstd", []byte{byte(compress.Zstd), 50, 1, 2, 3}},
		{"unknown codec", []byte{9, 1, 'x'}},
		{"no codec", []byte{0, 1, 'x'}},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := objstore.NewMemory()
			opts := valueOptions()
			opts.Compression = compress.Snappy
			db := mustOpen(t, mem, opts)
			if err := db.Put(ctx, []byte("before"), []byte("x"), WriteOptions{AwaitDurable: true}); err != nil {
				t.Fatal(err)
			}
			id, epoch := db.nextWALID, db.epoch
			db.kill()
			entries := wal.AppendEntry(nil, wal.KindSetCompressed, []byte("bad"), tc.value)
			obj := wal.AppendRecord(wal.AppendHeader(nil, wal.Header{WriterEpoch: epoch, WALID: id}), 100, 1, entries)
			if err := mem.PutIfAbsent(ctx, walKey(id), obj); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, mem, opts)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), walKey(id)) {
				t.Fatalf("Open over a bad compressed value: %v; want ErrCorrupt naming %s", err, walKey(id))
			}
		})
	}
}

// TestZstdLevelOption: Options.ZstdLevel reaches the values a database
// compresses: the same text takes fewer bytes at the best level than at
// the fastest, and each database reads its own back.
func TestZstdLevelOption(t *testing.T) {
	ctx := context.Background()
	keys := keyList(100)
	walBytes := map[int]int64{}
	for _, level := range []int{compress.MinZstdLevel, compress.MaxZstdLevel} {
		opts := valueOptions()
		opts.Compression = compress.Zstd
		opts.ZstdLevel = level
		db := mustOpen(t, objstore.NewMemory(), opts)
		var b Batch
		for _, k := range keys {
			b.Put([]byte(k), chunkValue(k, true))
		}
		before := db.Stats().WALBytes
		if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
		walBytes[level] = db.Stats().WALBytes - before
		checkChunks(t, db, keys, true)
		if err := db.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if walBytes[compress.MaxZstdLevel] >= walBytes[compress.MinZstdLevel] {
		t.Fatalf("WAL bytes by zstd level %v: the best level should write fewer", walBytes)
	}
	t.Logf("WAL bytes by zstd level: %v", walBytes)
}
