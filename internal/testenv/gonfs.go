package testenv

import (
	"errors"
	"fmt"
	"syscall"

	gorpc "github.com/willscott/go-nfs-client/nfs/rpc"
)

// dialAttempts bounds DialGoNFS's retries; each attempt picks a new random
// local port, so a few are enough even on a busy machine.
const dialAttempts = 32

// DialGoNFS connects the go-nfs-client RPC client to addr. The library binds
// a random local port in 49152-65535 and, for an unprivileged client, gives
// up when that port is taken. The range overlaps Linux's ephemeral ports, so
// on a machine running many tests at once a bind fails now and then; this
// retries such failures with a fresh port and returns any other error as is.
func DialGoNFS(addr string) (*gorpc.Client, error) {
	var err error
	for range dialAttempts {
		var c *gorpc.Client
		c, err = gorpc.DialTCP("tcp", addr, false)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("dialing %s: %w", addr, err)
		}
	}
	return nil, fmt.Errorf("dialing %s: every local port tried was taken: %w", addr, err)
}
