package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, table) }

// Update returns the CRC-32C of the bytes crc was computed over followed by b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, table, b) }
