package crypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

// cpuPerOp reports the CPU time per operation since start (wall time on a
// shared machine includes the neighbours).
func cpuPerOp(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(testenv.CPUTime()-start)/float64(b.N), "cpu-ns/op")
}

// The raw cost of sealing and opening, on a memory store:
//
//	go test ./crypt -run XXX -bench . -count 5

func benchObject(b *testing.B, size int) (objstore.Store, objstore.Store) {
	mem := objstore.NewMemory()
	st := NewSealer(testKeys(b), Options{Logger: quietLogger()}).Wrap(mem)
	if err := st.Put(context.Background(), "obj", payload(size, 1)); err != nil {
		b.Fatal(err)
	}
	return mem, st
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			st := NewSealer(testKeys(b), Options{Logger: quietLogger()}).Wrap(objstore.NewMemory())
			data := payload(size, 2)
			b.SetBytes(int64(size))
			start := testenv.CPUTime()
			for b.Loop() {
				if err := st.Put(context.Background(), "obj", data); err != nil {
					b.Fatal(err)
				}
			}
			cpuPerOp(b, start)
		})
	}
}

func BenchmarkGet(b *testing.B) {
	_, st := benchObject(b, 1<<20)
	b.SetBytes(1 << 20)
	start := testenv.CPUTime()
	for b.Loop() {
		if _, err := st.Get(context.Background(), "obj"); err != nil {
			b.Fatal(err)
		}
	}
	cpuPerOp(b, start)
}

// BenchmarkGetRange reads random ranges of a 4 MiB object with its header
// cached: the lsm's block reads. The plain variant reads the memory store
// directly, for comparison.
func BenchmarkGetRange(b *testing.B) {
	const size = 4 << 20
	for _, n := range []int{4 << 10, 64 << 10} {
		_, st := benchObject(b, size)
		plain := objstore.NewMemory()
		_ = plain.Put(context.Background(), "obj", payload(size, 1))
		for _, v := range []struct {
			name string
			s    objstore.Store
		}{{"plain", plain}, {"sealed", st}} {
			b.Run(sizeName(n)+"/"+v.name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				b.SetBytes(int64(n))
				start := testenv.CPUTime()
				for b.Loop() {
					if _, err := v.s.GetRange(context.Background(), "obj", int64(r.IntN(size-n)), int64(n)); err != nil {
						b.Fatal(err)
					}
				}
				cpuPerOp(b, start)
			})
		}
	}
}

// BenchmarkAESGCM is the floor under every sealed byte: AES-256-GCM of one
// frame with the standard library, without this package's framing.
func BenchmarkAESGCM(b *testing.B) {
	block, err := aes.NewCipher(make([]byte, KeyLen))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce, ad := make([]byte, nonceLen), make([]byte, adFixedLen+24)
	frame := payload(frameSize, 3)
	sealed := aead.Seal(nil, nonce, frame, ad)
	for _, v := range []struct {
		name string
		op   func(dst []byte) ([]byte, error)
	}{
		{"seal", func(dst []byte) ([]byte, error) { return aead.Seal(dst, nonce, frame, ad), nil }},
		{"open", func(dst []byte) ([]byte, error) { return aead.Open(dst, nonce, sealed, ad) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			dst := make([]byte, 0, sealedFrameSize)
			b.SetBytes(frameSize)
			start := testenv.CPUTime()
			for b.Loop() {
				if _, err := v.op(dst); err != nil {
					b.Fatal(err)
				}
			}
			cpuPerOp(b, start)
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
