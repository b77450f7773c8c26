package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// DefaultSocket is the Unix socket on which rpcbind takes registrations
// from local processes.
const DefaultSocket = "/run/rpcbind.sock"

// maxList bounds the lists the client decodes.
const maxList = 4096

// ErrRefused is returned when rpcbind answers FALSE to a registration.
var ErrRefused = errors.New("portmap: rpcbind refused the registration")

// Client calls a portmapper or rpcbind over one stream connection (TCP, or
// rpcbind's Unix socket).
type Client struct {
	c *rpc.Client
}

// Dial connects to a portmapper: network is "tcp" (addr host:port) or
// "unix" (addr a socket path).
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("portmap: dial %s %s: %w", network, addr, err)
	}
	return &Client{c: rpc.NewClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) call(ctx context.Context, vers, proc uint32, args []byte) (*xdr.Decoder, error) {
	cred := rpc.AuthSysCred{MachineName: "localhost", UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	res, err := c.c.Call(ctx, Program, vers, proc, cred.Encode(), args)
	if err != nil {
		return nil, fmt.Errorf("portmap: call v%d procedure %d: %w", vers, proc, err)
	}
	return xdr.NewDecoder(res), nil
}

// Null calls PMAP v2 NULL: it succeeds when a portmapper answers.
func (c *Client) Null(ctx context.Context) error {
	_, err := c.call(ctx, VersionPMAP, PMAPProcNull, nil)
	return err
}

// GetPort asks PMAP v2 GETPORT; 0 means not registered.
func (c *Client) GetPort(ctx context.Context, prog, vers, prot uint32) (uint16, error) {
	var e xdr.Encoder
	Mapping{Prog: prog, Vers: vers, Prot: prot}.Append(&e)
	d, err := c.call(ctx, VersionPMAP, PMAPProcGetPort, e.Buf)
	if err != nil {
		return 0, err
	}
	p := d.Uint32()
	if d.Err() != nil || p > 0xffff {
		return 0, fmt.Errorf("%w: GETPORT result %d: %v", ErrBadArgs, p, d.Err())
	}
	return uint16(p), nil
}

// Dump asks PMAP v2 DUMP.
func (c *Client) Dump(ctx context.Context) ([]Mapping, error) {
	d, err := c.call(ctx, VersionPMAP, PMAPProcDump, nil)
	if err != nil {
		return nil, err
	}
	return DecodeMappings(d, maxList)
}

// GetAddr asks rpcbind GETADDR (vers 3 or 4); "" means not registered.
func (c *Client) GetAddr(ctx context.Context, vers uint32, r RPCB) (string, error) {
	var e xdr.Encoder
	r.Append(&e)
	d, err := c.call(ctx, vers, RPCBProcGetAddr, e.Buf)
	if err != nil {
		return "", err
	}
	s := d.String(maxUAddr)
	if d.Err() != nil {
		return "", fmt.Errorf("%w: GETADDR result: %w", ErrBadArgs, d.Err())
	}
	return s, nil
}

// DumpRPCB asks rpcbind DUMP (vers 3 or 4).
func (c *Client) DumpRPCB(ctx context.Context, vers uint32) ([]RPCB, error) {
	d, err := c.call(ctx, vers, RPCBProcDump, nil)
	if err != nil {
		return nil, err
	}
	return DecodeRPCBs(d, maxList)
}

// Set asks rpcbind v4 SET; a FALSE answer is ErrRefused.
func (c *Client) Set(ctx context.Context, r RPCB) error {
	ok, err := c.change(ctx, RPCBProcSet, r)
	if err == nil && !ok {
		err = fmt.Errorf("%w: program %d version %d on %s at %s", ErrRefused, r.Prog, r.Vers, r.NetID, r.UAddr)
	}
	return err
}

// Unset asks rpcbind v4 UNSET (an empty NetID removes every transport) and
// reports whether anything was removed.
func (c *Client) Unset(ctx context.Context, r RPCB) (bool, error) {
	return c.change(ctx, RPCBProcUnset, r)
}

func (c *Client) change(ctx context.Context, proc uint32, r RPCB) (bool, error) {
	var e xdr.Encoder
	r.Append(&e)
	d, err := c.call(ctx, VersionRPCB4, proc, e.Buf)
	if err != nil {
		return false, err
	}
	ok := d.Bool()
	if d.Err() != nil {
		return false, fmt.Errorf("%w: SET/UNSET result: %w", ErrBadArgs, d.Err())
	}
	return ok, nil
}

// Registrations returns the rpcbind registrations of services listening
// at addr: one per service and per address family addr serves (a wildcard
// address serves IPv4 and IPv6), all over TCP.
func Registrations(services []Service, addr netip.AddrPort) []RPCB {
	var rs []RPCB
	for _, ap := range familyAddrs(addr) {
		for _, sv := range services {
			rs = append(rs, RPCB{Prog: sv.Prog, Vers: sv.Vers, NetID: NetID(ProtoTCP, ap.Addr()), UAddr: FormatUAddr(ap), Owner: strconv.Itoa(os.Getuid())})
		}
	}
	return rs
}

// Register registers services listening at addr with the rpcbind behind
// socket (DefaultSocket when ""), first removing every registration of
// the same program versions (left by an earlier run that did not stop
// cleanly). rpcbind accepts changes only from local callers: its Unix
// socket, not its TCP and UDP ports.
func Register(ctx context.Context, socket string, services []Service, addr netip.AddrPort) error {
	c, err := dialSocket(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.unsetAll(ctx, services); err != nil {
		return err
	}
	for _, r := range Registrations(services, addr) {
		if err := c.Set(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Unregister removes every registration of the services' program versions
// from the rpcbind behind socket (DefaultSocket when "").
func Unregister(ctx context.Context, socket string, services []Service) error {
	c, err := dialSocket(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.unsetAll(ctx, services)
}

func (c *Client) unsetAll(ctx context.Context, services []Service) error {
	for _, sv := range services {
		if _, err := c.Unset(ctx, RPCB{Prog: sv.Prog, Vers: sv.Vers, Owner: strconv.Itoa(os.Getuid())}); err != nil {
			return err
		}
	}
	return nil
}

func dialSocket(ctx context.Context, socket string) (*Client, error) {
	if socket == "" {
		socket = DefaultSocket
	}
	return Dial(ctx, "unix", socket)
}

// Probe reports whether a portmapper answers NULL over TCP at addr.
func Probe(ctx context.Context, addr string) error {
	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Null(ctx)
}
