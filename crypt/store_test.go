package crypt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
	"github.com/zerofs-go/zerofsd/objstore/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := newKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newSealer is a Sealer with the test's keys; under a subtest of
// withFrameCache named "frame cache" it has a small frame cache.
func newSealer(t testing.TB, k *Keys) *Sealer {
	var frames int64
	if strings.Contains(t.Name(), "/frame_cache") {
		frames = 64 * (frameSize + frameCharge)
	}
	return NewSealer(k, Options{Logger: quietLogger(), FrameCacheBytes: frames})
}

// withFrameCache runs test without and with a frame cache.
func withFrameCache(t *testing.T, test func(t *testing.T)) {
	t.Run("no frame cache", test)
	t.Run("frame cache", test)
}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestContract(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
			return newSealer(t, testKeys(t)).Wrap(objstore.NewMemory())
		})
	})
}

func TestContractLocal(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
			local, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return newSealer(t, testKeys(t)).Wrap(local)
		})
	})
}

// sizes covers empty, sub-frame, frame-boundary and multi-frame objects,
// one past nearStart so that ranged reads take both fetch paths, and one
// large enough to be sealed and opened by several goroutines.
var sizes = []int{0, 1, frameSize - 1, frameSize, frameSize + 1, 3*frameSize + 5, nearStart + 3*frameSize + 7, 8*parallelFrames*frameSize + 5}

func TestSizesAndLayout(t *testing.T) {
	for _, n := range sizes {
		ps, ok := plainSize(sealedSize(int64(n)))
		if !ok || ps != int64(n) {
			t.Errorf("plainSize(sealedSize(%d)) = %d, %v", n, ps, ok)
		}
	}
	for sealed := int64(0); sealed < 3*sealedFrameSize; sealed++ {
		if ps, ok := plainSize(sealed); ok && sealedSize(ps) != sealed {
			t.Fatalf("plainSize(%d) = %d, but sealedSize of it is %d", sealed, ps, sealedSize(ps))
		}
	}
}

// TestGetRange checks random ranges of objects of every size against the
// plaintext, with the header cached (written through this sealer) and not
// (a fresh sealer over the same objects).
func TestGetRange(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		ctx := context.Background()
		k := testKeys(t)
		mem := objstore.NewMemory()
		writer := newSealer(t, k).Wrap(mem)
		r := rand.New(rand.NewPCG(2, 3))
		for _, n := range sizes {
			data := payload(n, uint64(n))
			name := fmt.Sprintf("obj/%d", n)
			if err := writer.Put(ctx, name, data); err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 60; round++ {
				reader := writer
				if round%2 == 1 {
					reader = newSealer(t, k).Wrap(mem) // header not cached
				}
				off := int64(r.IntN(n + 10))
				ln := int64(r.IntN(3*frameSize + 10))
				if round%15 == 0 {
					ln = 1 << 62 // "to the end"
				}
				got, err := reader.GetRange(ctx, name, off, ln)
				if err != nil {
					t.Fatalf("GetRange(%s, %d, %d): %v", name, off, ln, err)
				}
				lo, hi := min(off, int64(n)), min(off+ln, int64(n))
				if !bytes.Equal(got, data[lo:hi]) {
					t.Fatalf("GetRange(%s, %d, %d): %d bytes, want %d (or different bytes)", name, off, ln, len(got), hi-lo)
				}
			}
			got, err := newSealer(t, k).Wrap(mem).Get(ctx, name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get(%s): %d bytes, %v", name, len(got), err)
			}
		}
	})
}

// TestHeaderCache checks that a ranged read of an object written through the
// sealer needs no header fetch, and that a cold one near the start needs a
// single request.
func TestHeaderCache(t *testing.T) {
	ctx := context.Background()
	k := testKeys(t)
	counting := objstore.NewCounting(objstore.NewMemory())
	s := newSealer(t, k).Wrap(counting)
	data := payload(4*frameSize, 9)
	if err := s.Put(ctx, "a", data); err != nil {
		t.Fatal(err)
	}
	before := counting.Stats()[objstore.OpGetRange].Requests
	if _, err := s.GetRange(ctx, "a", 3*frameSize+10, 100); err != nil {
		t.Fatal(err)
	}
	if got := counting.Stats()[objstore.OpGetRange].Requests - before; got != 1 {
		t.Errorf("ranged read with a cached header made %d requests, want 1", got)
	}
	cold := newSealer(t, k).Wrap(counting)
	before = counting.Stats()[objstore.OpGetRange].Requests
	if _, err := cold.GetRange(ctx, "a", 10, 100); err != nil {
		t.Fatal(err)
	}
	if got := counting.Stats()[objstore.OpGetRange].Requests - before; got != 1 {
		t.Errorf("cold ranged read near the start made %d requests, want 1", got)
	}
}

// frameOf returns the frame a stored byte belongs to, or -1 for the header.
func frameOf(pos int64) int64 {
	if pos < headerLen {
		return -1
	}
	return (pos - headerLen) / sealedFrameSize
}

// TestTamperFlip flips single bytes all over a multi-frame object (every
// header and tag byte, and a stride through the ciphertext) and checks that
// Get fails with ErrTampered, and that a ranged read fails exactly when it
// touches the damaged frame or the header, and is right otherwise.
func TestTamperFlip(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		ctx := context.Background()
		k := testKeys(t)
		mem := objstore.NewMemory()
		writer := newSealer(t, k).Wrap(mem)
		const n = 3*frameSize + 100
		data := payload(n, 4)
		if err := writer.Put(ctx, "sst/x", data); err != nil {
			t.Fatal(err)
		}
		sealed, err := mem.Get(ctx, "sst/x")
		if err != nil {
			t.Fatal(err)
		}
		var positions []int64
		for p := int64(0); p < int64(len(sealed)); p++ {
			inTag := p >= headerLen && (p-headerLen)%sealedFrameSize >= sealedFrameSize-tagLen
			if p < headerLen || inTag || p == int64(len(sealed))-1 || p%97 == 0 {
				positions = append(positions, p)
			}
		}
		for _, p := range positions {
			bad := bytes.Clone(sealed)
			bad[p] ^= 1 << (p % 8)
			if err := mem.Put(ctx, "sst/x", bad); err != nil {
				t.Fatal(err)
			}
			s := newSealer(t, k)
			st := s.Wrap(mem)
			if _, err := st.Get(ctx, "sst/x"); !errors.Is(err, ErrTampered) || !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), "sst/x") {
				t.Fatalf("flip at %d: Get error %v, want ErrTampered (and objstore.ErrCorrupt) naming the object", p, err)
			}
			damaged := frameOf(p)
			for f := int64(0); f < numFrames(n); f++ {
				got, err := st.GetRange(ctx, "sst/x", f*frameSize, frameSize)
				switch {
				case damaged == -1 || damaged == f:
					if !errors.Is(err, ErrTampered) || !errors.Is(err, objstore.ErrCorrupt) {
						t.Fatalf("flip at %d (frame %d): GetRange of frame %d: %v, want ErrTampered (and objstore.ErrCorrupt)", p, damaged, f, err)
					}
				case err != nil || !bytes.Equal(got, data[f*frameSize:min(n, (f+1)*frameSize)]):
					t.Fatalf("flip at %d (frame %d): GetRange of intact frame %d: %v", p, damaged, f, err)
				}
			}
			if s.TamperedReads() == 0 {
				t.Fatalf("flip at %d: no tampered read counted", p)
			}
		}
		t.Logf("%d single-byte flips, each detected by Get and by the ranged reads that touch it", len(positions))
	})
}

// TestTamperLargeObject damages frames of an object opened by several
// goroutines: the first, one in the middle, the last.
func TestTamperLargeObject(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		ctx := context.Background()
		k := testKeys(t)
		mem := objstore.NewMemory()
		const n = 8*parallelFrames*frameSize + 5
		data := payload(n, 11)
		if err := newSealer(t, k).Wrap(mem).Put(ctx, "big", data); err != nil {
			t.Fatal(err)
		}
		sealed, _ := mem.Get(ctx, "big")
		if got, err := newSealer(t, k).Wrap(mem).Get(ctx, "big"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get: %v", err)
		}
		last := numFrames(n) - 1
		for _, f := range []int64{0, last / 2, last/2 + 1, last} {
			bad := bytes.Clone(sealed)
			bad[frameOffset(f)+3] ^= 2
			_ = mem.Put(ctx, "big", bad)
			st := newSealer(t, k).Wrap(mem)
			if _, err := st.Get(ctx, "big"); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), fmt.Sprintf("frame %d:", f)) {
				t.Fatalf("frame %d damaged: Get error %v, want ErrTampered naming the frame", f, err)
			}
			if _, err := st.GetRange(ctx, "big", 0, n); !errors.Is(err, ErrTampered) {
				t.Fatalf("frame %d damaged: GetRange of everything: %v, want ErrTampered", f, err)
			}
		}
	})
}

// TestTamperRearranged checks the attacks that keep every frame intact:
// swapped frames, truncation, extension, a renamed object, an object copied
// from another export (other keys) or from an export with the same data key
// but another id.
func TestTamperRearranged(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		ctx := context.Background()
		k := testKeys(t)
		mem := objstore.NewMemory()
		w := newSealer(t, k).Wrap(mem)
		const n = 3 * frameSize
		a, b := payload(n, 5), payload(n, 6)
		mustPut := func(st objstore.Store, name string, data []byte) {
			t.Helper()
			if err := st.Put(ctx, name, data); err != nil {
				t.Fatal(err)
			}
		}
		mustPut(w, "wal/1", a)
		mustPut(w, "wal/2", b)
		sa, _ := mem.Get(ctx, "wal/1")
		sb, _ := mem.Get(ctx, "wal/2")
		frame := func(s []byte, i int64) []byte { return s[frameOffset(i) : frameOffset(i)+sealedFrameSize] }

		other := testKeys(t)
		otherMem := objstore.NewMemory()
		mustPut(newSealer(t, other).Wrap(otherMem), "wal/1", a)
		fromOther, _ := otherMem.Get(ctx, "wal/1")

		sameKeyOtherID := &Keys{dataKey: k.dataKey}
		sameKeyOtherID.exportID[0] = k.exportID[0] ^ 1
		twinMem := objstore.NewMemory()
		mustPut(newSealer(t, sameKeyOtherID).Wrap(twinMem), "wal/1", a)
		fromTwin, _ := twinMem.Get(ctx, "wal/1")

		swapped := bytes.Clone(sa)
		copy(swapped[frameOffset(0):], frame(sa, 1))
		copy(swapped[frameOffset(1):], frame(sa, 0))
		mixed := bytes.Clone(sa)
		copy(mixed[frameOffset(1):], frame(sb, 1))
		cases := []struct {
			name   string
			stored []byte
		}{
			{"two frames swapped", swapped},
			{"a frame from another object", mixed},
			{"last frame dropped", sa[:frameOffset(2)]},
			{"cut inside the last frame", sa[:len(sa)-5]},
			{"header only", sa[:headerLen]},
			{"cut inside the header", sa[:10]},
			{"empty", []byte{}},
			{"bytes appended", append(bytes.Clone(sa), 0)},
			{"a frame appended", append(bytes.Clone(sa), frame(sa, 2)...)},
			{"another object of this export under this name", sb},
			{"the same object from another export", fromOther},
			{"the same data key but another export id", fromTwin},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if err := mem.Put(ctx, "wal/1", tc.stored); err != nil {
					t.Fatal(err)
				}
				st := newSealer(t, k).Wrap(mem)
				got, err := st.Get(ctx, "wal/1")
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("Get: %d bytes, %v; want ErrTampered", len(got), err)
				}
				// A ranged read over everything must fail too, unless only
				// bytes past the last frame changed (which it never reads).
				got, err = newSealer(t, k).Wrap(mem).GetRange(ctx, "wal/1", 0, 1<<40)
				appended := strings.Contains(tc.name, "appended")
				switch {
				case appended && (err != nil || !bytes.Equal(got, a)):
					t.Fatalf("GetRange of an object with bytes appended: %d bytes, %v; want the original data", len(got), err)
				case !appended && !errors.Is(err, ErrTampered):
					t.Fatalf("GetRange: %d bytes, %v; want ErrTampered", len(got), err)
				}
			})
		}
	})
}

// TestTamperLogged checks that a failed authentication is logged with the
// object's name.
func TestTamperLogged(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	k := testKeys(t)
	mem := objstore.NewMemory()
	s := NewSealer(k, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := s.Wrap(mem).Put(ctx, "manifest/00000000000000000007.manifest", []byte("state")); err != nil {
		t.Fatal(err)
	}
	raw, _ := mem.Get(ctx, "manifest/00000000000000000007.manifest")
	raw[len(raw)-1] ^= 0x80
	_ = mem.Put(ctx, "manifest/00000000000000000007.manifest", raw)
	if _, err := s.Wrap(mem).Get(ctx, "manifest/00000000000000000007.manifest"); !errors.Is(err, ErrTampered) {
		t.Fatalf("Get: %v, want ErrTampered", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "object=manifest/00000000000000000007.manifest") {
		t.Fatalf("log does not name the object at error level:\n%s", logs.String())
	}
}

// TestSealedHidesPlaintext checks that a sealed object contains no run of
// its plaintext, for plaintext that would be easy to spot.
func TestSealedHidesPlaintext(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	st := newSealer(t, testKeys(t)).Wrap(mem)
	secret := bytes.Repeat([]byte("the-secret-file-content "), 4000)
	if err := st.Put(ctx, "compacted/x.sst", secret); err != nil {
		t.Fatal(err)
	}
	raw, _ := mem.Get(ctx, "compacted/x.sst")
	if bytes.Contains(raw, []byte("secret")) {
		t.Fatal("the stored object contains plaintext")
	}
}

// TestSealerOverS3 runs the round trip and a tamper check on versitygw.
func TestSealerOverS3(t *testing.T) {
	ctx := context.Background()
	s3 := testenv.S3Store(t)
	k := testKeys(t)
	st := newSealer(t, k).Wrap(s3)
	data := payload(nearStart+5*frameSize+3, 8)
	if err := st.Put(ctx, "compacted/a.sst", data); err != nil {
		t.Fatal(err)
	}
	cold := newSealer(t, k).Wrap(s3)
	got, err := cold.GetRange(ctx, "compacted/a.sst", nearStart+frameSize+7, 2*frameSize)
	if err != nil || !bytes.Equal(got, data[nearStart+frameSize+7:nearStart+3*frameSize+7]) {
		t.Fatalf("GetRange: %d bytes, %v", len(got), err)
	}
	raw, err := s3.Get(ctx, "compacted/a.sst")
	if err != nil {
		t.Fatal(err)
	}
	raw[frameOffset(2)+100] ^= 4
	if err := s3.Put(ctx, "compacted/a.sst", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := newSealer(t, k).Wrap(s3).GetRange(ctx, "compacted/a.sst", 2*frameSize, 10); !errors.Is(err, ErrTampered) {
		t.Fatalf("GetRange of a damaged frame on S3: %v, want ErrTampered", err)
	}
}

// TestForgedCachePage puts a forged page into the disk cache below the
// sealing (the store returns a damaged byte once, and the cache stores it
// with valid checksums of its own): reads fail authentication, from the
// store and from the cache alike, and never return the forged data.
func TestForgedCachePage(t *testing.T) {
	withFrameCache(t, func(t *testing.T) {
		ctx := context.Background()
		k := testKeys(t)
		mem := objstore.NewMemory()
		data := payload(64<<10, 12)
		if err := newSealer(t, k).Wrap(mem).Put(ctx, "compacted/a.sst", data); err != nil {
			t.Fatal(err)
		}
		faulty := faultstore.New(mem, faultstore.Options{Seed: 3})
		faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGetRange}, Action: faultstore.Corrupt, Times: 1})
		disk, err := cache.OpenDisk(t.TempDir(), 16<<20, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer disk.Close()
		cached := cache.NewCachingStore(faulty, disk, "ns")
		for round := range 2 {
			st := newSealer(t, k).Wrap(cached)
			got, err := st.GetRange(ctx, "compacted/a.sst", 0, int64(len(data)))
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("round %d: GetRange over a forged cache page: %d bytes, %v; want ErrTampered", round, len(got), err)
			}
		}
		if s := disk.Stats(); s.Hits == 0 || s.Corrupt != 0 {
			t.Fatalf("the second read was not served by the cache with valid checksums: %+v", s)
		}
	})
}

// TestFrameCache checks that ranged reads are served from the frame cache:
// a range read again needs no request, a range that overlaps cached frames
// reads only the frames from the first to the last it lacks, the cache
// stays within its bound, and an object written again under its name is
// never served its old frames.
func TestFrameCache(t *testing.T) {
	ctx := context.Background()
	counting := objstore.NewCounting(objstore.NewMemory())
	const capFrames = 8
	s := NewSealer(testKeys(t), Options{Logger: quietLogger(), FrameCacheBytes: capFrames * (frameSize + frameCharge)})
	st := s.Wrap(counting)
	const n = 32*frameSize + 100
	data := payload(n, 21)
	if err := st.Put(ctx, "v", data); err != nil {
		t.Fatal(err)
	}
	type read struct {
		off, n       int64
		requests     int64 // ranged requests to the store it makes
		storedFrames int64 // frames they read (0 with no request)
	}
	for i, r := range []read{
		{frameSize + 10, 2 * frameSize, 1, 3}, // frames 1-3, all missing
		{frameSize + 10, 2 * frameSize, 0, 0}, // again: all cached
		{2*frameSize + 1, 100, 0, 0},          // inside a cached frame
		{0, 5 * frameSize, 1, 5},              // frames 0-4: 0 and 4 missing, so 0-4 are read
		{5*frameSize - 1, 2, 1, 1},            // frames 4 (cached) and 5 (missing)
		{31 * frameSize, 1 << 20, 1, 2},       // the last two frames, to the end
		{20 * frameSize, 8 * frameSize, 1, 8}, // fills the cache with frames 20-27
		{frameSize + 10, 2 * frameSize, 1, 3}, // frames 1-3 were evicted
	} {
		beforeReq := counting.Stats()[objstore.OpGetRange].Requests
		beforeBytes := counting.Stats()[objstore.OpGetRange].BytesRead
		got, err := st.GetRange(ctx, "v", r.off, r.n)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if lo, hi := min(r.off, n), min(r.off+r.n, n); !bytes.Equal(got, data[lo:hi]) {
			t.Fatalf("read %d [%d,+%d): wrong bytes", i, r.off, r.n)
		}
		req := counting.Stats()[objstore.OpGetRange].Requests - beforeReq
		stored := counting.Stats()[objstore.OpGetRange].BytesRead - beforeBytes
		if req != r.requests || (stored+sealedFrameSize-1)/sealedFrameSize != r.storedFrames {
			t.Errorf("read %d [%d,+%d): %d requests of %d stored bytes, want %d requests of %d frames", i, r.off, r.n, req, stored, r.requests, r.storedFrames)
		}
		if s.frames.bytes > s.frames.capacity {
			t.Fatalf("read %d: the cache charges %d bytes, over its %d", i, s.frames.bytes, s.frames.capacity)
		}
	}

	// The object written again: its new bytes, never the cached ones.
	again := payload(n, 22)
	if err := st.Put(ctx, "v", again); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetRange(ctx, "v", 20*frameSize, 8*frameSize); err != nil || !bytes.Equal(got, again[20*frameSize:28*frameSize]) {
		t.Fatalf("read after the object was written again: %v, or the old bytes", err)
	}
	if hits, misses := s.FrameCacheStats(); hits == 0 || misses == 0 {
		t.Errorf("FrameCacheStats = %d hits, %d misses; want both counted", hits, misses)
	}
}

// TestFrameCacheTamper checks that only authenticated frames are cached: a
// damaged frame is refused on every read, and never enters the cache.
func TestFrameCacheTamper(t *testing.T) {
	ctx := context.Background()
	k := testKeys(t)
	mem := objstore.NewMemory()
	s := NewSealer(k, Options{Logger: quietLogger(), FrameCacheBytes: 1 << 20})
	st := s.Wrap(mem)
	const n = 4 * frameSize
	data := payload(n, 23)
	if err := st.Put(ctx, "v", data); err != nil {
		t.Fatal(err)
	}
	sealed, _ := mem.Get(ctx, "v")
	bad := bytes.Clone(sealed)
	bad[frameOffset(2)+7] ^= 1
	if err := mem.Put(ctx, "v", bad); err != nil {
		t.Fatal(err)
	}
	// Through a cached header (the sealer's own write): frames 0-1 read and
	// cached, then the damaged frame 2 refused, twice.
	if got, err := st.GetRange(ctx, "v", 0, 2*frameSize); err != nil || !bytes.Equal(got, data[:2*frameSize]) {
		t.Fatalf("intact frames: %v", err)
	}
	for range 2 {
		if _, err := st.GetRange(ctx, "v", frameSize, 2*frameSize); !errors.Is(err, ErrTampered) {
			t.Fatalf("range over the damaged frame: %v, want ErrTampered", err)
		}
		// The header is forgotten after a failure: read it again.
		if _, err := st.GetRange(ctx, "v", 2*frameSize, 1); !errors.Is(err, ErrTampered) {
			t.Fatalf("the damaged frame alone: %v, want ErrTampered", err)
		}
	}
	if s.TamperedReads() != 4 {
		t.Errorf("%d tampered reads counted, want 4", s.TamperedReads())
	}
}

// TestPreparePut: an object sealed ahead of its PUT is stored as
// PutIfAbsent would store it (it opens to the data, in another sealer of
// the same keys too), the data given may change once PreparePut returns,
// and a prepared object once stored is spent (its buffer is recycled).
func TestPreparePut(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	mem := objstore.NewMemory()
	st := newSealer(t, keys).Wrap(mem)
	pp, ok := st.(objstore.PutPreparer)
	if !ok {
		t.Fatal("the sealing store does not prepare objects")
	}
	for _, n := range sizes {
		key := fmt.Sprintf("wal/%020d.sst", n)
		want := payload(n, uint64(n))
		data := bytes.Clone(want)
		p, err := pp.PreparePut(key, data)
		if err != nil {
			t.Fatal(err)
		}
		clear(data)
		if _, err := mem.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("%d bytes: the object exists before its PUT (%v)", n, err)
		}
		if err := p.PutIfAbsent(ctx); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if err := p.PutIfAbsent(ctx); err == nil {
			t.Fatalf("%d bytes: a second PutIfAbsent of a stored prepared object succeeded", n)
		}
		for name, s := range map[string]objstore.Store{"same": st, "fresh": newSealer(t, keys).Wrap(mem)} {
			got, err := s.Get(ctx, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, %s sealer: read back %d bytes, %v", n, name, len(got), err)
			}
		}
	}
	if _, err := pp.PreparePut("../bad", nil); err == nil {
		t.Error("PreparePut accepted an invalid key")
	}
}

// TestSealedBuffersAreRecycledSafely: sealed buffers go back to the pool
// only once their object is stored, so objects prepared, stored and
// written in any interleaving all read back as written, although later
// ones reuse the buffers of earlier ones.
func TestSealedBuffersAreRecycledSafely(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	st := newSealer(t, keys).Wrap(objstore.NewMemory())
	pp := st.(objstore.PutPreparer)
	sizes := []int{minPooled, 1 << 20, 3<<20 + 5, 4 << 20}
	want := map[string][]byte{}
	var waiting []objstore.PreparedPut
	for i := range 40 {
		key := fmt.Sprintf("obj/%03d", i)
		data := payload(sizes[i%len(sizes)], uint64(i))
		want[key] = bytes.Clone(data)
		switch i % 3 {
		case 0: // stored at once
			if err := st.Put(ctx, key, data); err != nil {
				t.Fatal(err)
			}
		case 1: // prepared now, stored after the next ones
			p, err := pp.PreparePut(key, data)
			if err != nil {
				t.Fatal(err)
			}
			waiting = append(waiting, p)
		case 2:
			if err := st.PutIfAbsent(ctx, key, data); err != nil {
				t.Fatal(err)
			}
			if len(waiting) > 1 {
				if err := waiting[0].PutIfAbsent(ctx); err != nil {
					t.Fatal(err)
				}
				waiting = waiting[1:]
			}
		}
		clear(data)
	}
	for _, p := range waiting {
		if err := p.PutIfAbsent(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for key, w := range want {
		got, err := st.Get(ctx, key)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("%s: read back %d bytes, %v; want what was written", key, len(got), err)
		}
	}
}

func TestBufferPoolClasses(t *testing.T) {
	var p bufferPool
	tests := []struct {
		n       int64
		wantCap int64
	}{
		{0, 0},
		{minPooled - 1, minPooled - 1},
		{minPooled, 1 << 20},
		{1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20},
		{maxPooledMiB << 20, maxPooledMiB << 20},
		{maxPooledMiB<<20 + 1, maxPooledMiB<<20 + 1},
	}
	for _, tc := range tests {
		b := p.get(tc.n)
		if int64(len(b)) != tc.n || int64(cap(b)) != tc.wantCap {
			t.Errorf("get(%d): len %d cap %d; want len %d cap %d", tc.n, len(b), cap(b), tc.n, tc.wantCap)
		}
		p.put(b)
	}
}
