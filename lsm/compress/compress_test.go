package compress

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func textOf(n int) []byte {
	return bytes.Repeat([]byte("every value stays where the WAL put it; "), n/40+1)[:n]
}

func randomOf(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	shared := NewCodecs()
	for _, codec := range []Codec{Snappy, Zstd} {
		for _, codecs := range []*Codecs{nil, shared} {
			for _, tc := range []struct {
				name string
				src  []byte
				keep bool
			}{
				{"text", textOf(4096), true},
				{"random", randomOf(4096), false},
				{"empty", nil, false},
				{"one byte", []byte{7}, false},
			} {
				c := NewCompressor(codec, codecs)
				payload, ok, err := c.Compress(tc.src)
				if err != nil {
					t.Fatalf("%s %s: %v", codec, tc.name, err)
				}
				if ok != tc.keep {
					t.Fatalf("%s %s: kept %v, want %v", codec, tc.name, ok, tc.keep)
				}
				if !ok {
					continue
				}
				if len(payload) > len(tc.src)-len(tc.src)/8 {
					t.Fatalf("%s %s: kept a payload of %d bytes for %d", codec, tc.name, len(payload), len(tc.src))
				}
				got, err := shared.Decompress(codec, bytes.Clone(payload), len(tc.src))
				if err != nil || !bytes.Equal(got, tc.src) {
					t.Fatalf("%s %s: decompressed %d bytes (%v), not the input", codec, tc.name, len(got), err)
				}
				if _, err := shared.Decompress(codec, payload, len(tc.src)-1); err == nil {
					t.Fatalf("%s %s: a limit below the decoded length was not refused", codec, tc.name)
				}
			}
		}
	}
}

func TestNoneKeepsNothing(t *testing.T) {
	c := NewCompressor(None, nil)
	if _, ok, err := c.Compress(textOf(4096)); ok || err != nil {
		t.Fatalf("None compressed (%v, %v)", ok, err)
	}
	var nilCodecs *Codecs
	if got, err := nilCodecs.Decompress(None, []byte("as is"), 0); err != nil || string(got) != "as is" {
		t.Fatalf("None decompressed to %q, %v", got, err)
	}
	if _, err := nilCodecs.Decompress(Snappy, []byte{1, 0}, 10); err == nil {
		t.Fatal("a nil Codecs decoded snappy")
	}
}

// TestDamagedPayload: every single-byte change of a payload either fails
// or decodes to bytes of the declared length; truncations fail.
func TestDamagedPayload(t *testing.T) {
	d := NewCodecs()
	src := textOf(2000)
	for _, codec := range []Codec{Snappy, Zstd} {
		c := NewCompressor(codec, nil)
		payload, ok, err := c.Compress(src)
		if !ok || err != nil {
			t.Fatalf("%s: not compressed (%v)", codec, err)
		}
		for i := range payload {
			bad := bytes.Clone(payload)
			bad[i] ^= 0x40
			if got, err := d.Decompress(codec, bad, len(src)); err == nil && len(got) != len(src) {
				t.Fatalf("%s: byte %d flipped: %d bytes decoded, want %d or an error", codec, i, len(got), len(src))
			}
		}
		for n := 0; n < len(payload); n++ {
			if _, err := d.Decompress(codec, payload[:n], len(src)); err == nil {
				t.Fatalf("%s: payload cut to %d of %d bytes decoded", codec, n, len(payload))
			}
		}
	}
}

func FuzzDecompress(f *testing.F) {
	for _, codec := range []Codec{Snappy, Zstd} {
		c := NewCompressor(codec, nil)
		p, _, _ := c.Compress(textOf(300))
		f.Add(byte(codec), bytes.Clone(p))
	}
	f.Add(byte(3), []byte{1, 2, 3})
	d := NewCodecs()
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, codec byte, payload []byte) {
		out, err := d.Decompress(Codec(codec), payload, limit)
		if err != nil || Codec(codec) == None {
			return
		}
		if len(out) > limit {
			t.Fatalf("decoded %d bytes past the limit %d", len(out), limit)
		}
	})
}

// TestZstdLevels: a Codecs' level reaches its encoder (the fastest and the
// best levels compress the same text to different sizes, the best no
// larger), and every level decodes what every other wrote.
func TestZstdLevels(t *testing.T) {
	// Words drawn at random: text the levels compress differently (a
	// repeated sentence compresses to the same few bytes at any level).
	words := strings.Fields("the value log keeps each value where the WAL put it and an SST points to it until compaction moves it")
	r := rand.New(rand.NewPCG(3, 4))
	var text []byte
	for len(text) < 64<<10 {
		text = append(text, words[r.IntN(len(words))]...)
		text = append(text, ' ')
	}
	src := text[:64<<10]
	sizes := map[int]int{}
	payloads := map[int][]byte{}
	for _, level := range []int{0, MinZstdLevel, 6, MaxZstdLevel} {
		c := NewCompressor(Zstd, NewCodecsLevel(level))
		payload, ok, err := c.Compress(src)
		if err != nil || !ok {
			t.Fatalf("level %d: ok %v, %v", level, ok, err)
		}
		sizes[level] = len(payload)
		payloads[level] = slices.Clone(payload)
	}
	if sizes[MinZstdLevel] == sizes[MaxZstdLevel] || sizes[MaxZstdLevel] > sizes[MinZstdLevel] {
		t.Fatalf("sizes by level %v: the best level should be smaller than the fastest", sizes)
	}
	for level, payload := range payloads {
		for _, reader := range []*Codecs{NewCodecs(), NewCodecsLevel(MaxZstdLevel)} {
			got, err := reader.Decompress(Zstd, payload, len(src))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("level %d payload: decoded %d bytes, %v", level, len(got), err)
			}
		}
	}
	t.Logf("64 KiB of text by zstd level: %v", sizes)
}
