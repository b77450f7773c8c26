package compress

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchText is n bytes of words and numbers: about 0.6 of its size with
// snappy, 0.4 with zstd.
func benchText(n int) []byte {
	r := rand.New(rand.NewPCG(1, 1))
	words := []string{"the", "of", "file", "data", "value", "write", "object", "store", "chunk", "block", "pointer", "record"}
	var b []byte
	for len(b) < n {
		b = fmt.Appendf(b, "%s %d ", words[r.IntN(len(words))], r.IntN(100000))
	}
	return b[:n]
}

func BenchmarkCompress(b *testing.B) {
	codecs := NewCodecs()
	for _, codec := range []Codec{Snappy, Zstd} {
		for _, size := range []int{4 << 10, 64 << 10} {
			for _, kind := range []string{"text", "random"} {
				src := benchText(size)
				if kind == "random" {
					r := rand.New(rand.NewPCG(2, 2))
					for i := range src {
						src[i] = byte(r.Uint32())
					}
				}
				b.Run(fmt.Sprintf("%s/%s/%d", codec, kind, size), func(b *testing.B) {
					c := NewCompressor(codec, codecs)
					b.SetBytes(int64(size))
					for b.Loop() {
						if _, _, err := c.Compress(src); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	codecs := NewCodecs()
	for _, codec := range []Codec{Snappy, Zstd} {
		src := benchText(4 << 10)
		c := NewCompressor(codec, nil)
		payload, _, _ := c.Compress(src)
		payload = append([]byte(nil), payload...)
		b.Run(codec.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := codecs.Decompress(codec, payload, len(src)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
