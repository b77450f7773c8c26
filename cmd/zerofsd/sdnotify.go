package main

import (
	"log/slog"
	"net"
	"os"
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
