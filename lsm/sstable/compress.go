package sstable

import "github.com/zerofs-go/zerofsd/lsm/compress"

// Codecs is reusable compression state (package compress): a zstd encoder
// created on first use and shared by every Writer given it
// (WriterOptions.Codecs), so that small SSTs written often do not each pay
// for building one. Safe for concurrent use.
type Codecs = compress.Codecs

// NewCodecs returns an empty Codecs.
func NewCodecs() *Codecs { return compress.NewCodecs() }
