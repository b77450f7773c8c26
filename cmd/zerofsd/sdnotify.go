package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// While it starts, the daemon asks systemd for startExtension more every
// startExtendEvery (EXTEND_TIMEOUT_USEC): opening the exports may take
// longer than the unit's TimeoutStartSec (journal tails shipped, each S3
// request retried for up to about 20 s), and the extension outlasts the
// interval, so one message late does not end the start.
const (
	startExtendEvery = 10 * time.Second
	startExtension   = 30 * time.Second
)

// notifySystemd sends state to systemd when it started us with Type=notify
// (NOTIFY_SOCKET set); otherwise it does nothing.
func notifySystemd(log *slog.Logger, state string) {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return
	}
	if socket[0] == '@' { // abstract namespace
		socket = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		log.Warn("sd_notify: cannot reach systemd", "err", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		log.Warn("sd_notify: write failed", "err", err)
	}
}

// extendStartTimeout asks systemd, at once and then every `every`, for ext
// more time to start (EXTEND_TIMEOUT_USEC), with status as the unit's
// status line, until the returned stop is called (once or more); stop
// returns once no message is being sent, so that READY=1 comes after every
// extension.
// Without NOTIFY_SOCKET it sends nothing.
func extendStartTimeout(log *slog.Logger, every, ext time.Duration, status string) (stop func()) {
	msg := fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\nSTATUS=%s", ext.Microseconds(), status)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			notifySystemd(log, msg)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
