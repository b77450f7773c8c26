package testenv

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestDialGoNFSRetriesTakenPorts takes every other port of the range the
// go-nfs-client library binds from, so a single dial fails half the time;
// DialGoNFS must connect every time.
func TestDialGoNFSRetriesTakenPorts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	taken := 0
	for port := 49152; port <= 65535; port += 2 {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{Port: port})
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue // someone else's; taken all the same
			}
			t.Fatalf("taking port %d: %v", port, err)
		}
		defer l.Close()
		taken++
	}
	if taken < 4000 {
		t.Fatalf("took only %d ports", taken)
	}

	for i := range 12 {
		c, err := DialGoNFS(ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.Close()
	}
}
