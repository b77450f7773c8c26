package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/portmap"
)

// portmapTimeout bounds each exchange with rpcbind (probe, register, unregister).
const portmapTimeout = 5 * time.Second

// rpcbindAddr is where `auto` looks for the host's rpcbind.
const rpcbindAddr = "127.0.0.1:111"

// portmapServices are the programs clients look up: what nfs.Server answers.
var portmapServices = []portmap.Service{
	{Prog: nfs.ProgramNFS, Vers: nfs.VersionNFS},
	{Prog: nfs.ProgramMount, Vers: nfs.VersionMount},
}

// startPortmapper makes the NFS service listening at nfsAddr findable
// through port 111 as cfg.Portmapper says (see docs/config.md), and returns
// what undoes it. Only the explicit modes fail; auto warns and goes on.
func startPortmapper(ctx context.Context, cfg config.Server, nfsAddr net.Addr, log *slog.Logger) (stop func(), err error) {
	log = log.With("component", "portmap")
	nothing := func() {}
	ap, err := netip.ParseAddrPort(nfsAddr.String())
	if err != nil {
		return nothing, fmt.Errorf("portmapper: NFS address %s: %w", nfsAddr, err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	hint := fmt.Sprintf("clients must mount with -o port=%d,mountport=%d", ap.Port(), ap.Port())
	mode := cfg.Portmapper
	if mode == config.PortmapperAuto {
		pctx, cancel := context.WithTimeout(ctx, portmapTimeout)
		perr := portmap.Probe(pctx, rpcbindAddr)
		cancel()
		mode = config.PortmapperServe
		if perr == nil {
			mode = config.PortmapperRegister
		}
	}
	switch mode {
	case config.PortmapperRegister:
		rctx, cancel := context.WithTimeout(ctx, portmapTimeout)
		defer cancel()
		if err := portmap.Register(rctx, "", portmapServices, ap); err != nil {
			if cfg.Portmapper == config.PortmapperAuto {
				log.Warn("portmapper: an rpcbind answers on "+rpcbindAddr+" but registering with it failed; "+hint, "err", err)
				return nothing, nil
			}
			return nothing, fmt.Errorf("registering with rpcbind (server.portmapper = \"register\"): %w", err)
		}
		log.Info("registered NFS and MOUNT with rpcbind", "port", ap.Port())
		return func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), portmapTimeout)
			defer cancel()
			if err := portmap.Unregister(uctx, "", portmapServices); err != nil {
				log.Warn("portmapper: unregistering from rpcbind", "err", err)
				return
			}
			log.Info("unregistered NFS and MOUNT from rpcbind")
		}, nil
	case config.PortmapperServe:
		s, err := portmap.Listen(ctx, cfg.PortmapperListen, portmap.Options{
			Services: portmapServices, Port: ap.Port(), Addr: ap.Addr(), Logger: log,
		})
		if err != nil {
			if cfg.Portmapper == config.PortmapperAuto {
				log.Warn("portmapper: no rpcbind answers on "+rpcbindAddr+" and serving one on "+cfg.PortmapperListen+" failed; "+hint, "err", err)
				return nothing, nil
			}
			return nothing, fmt.Errorf("serving the portmapper (server.portmapper = \"serve\", server.portmapper_listen = %q): %w", cfg.PortmapperListen, err)
		}
		log.Info("serving the portmapper", "addr", s.Addr().String(), "nfs_port", ap.Port())
		return func() { s.Close() }, nil
	}
	log.Info("portmapper off; " + hint)
	return nothing, nil
}
