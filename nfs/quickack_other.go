//go:build !linux

package nfs

import (
	"io"
	"net"
)

// newQuickAckReader returns c: TCP_QUICKACK is Linux only.
func newQuickAckReader(c net.Conn) io.Reader { return c }
