package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func frag(last bool, b []byte) []byte {
	h := uint32(len(b))
	if last {
		h |= lastFragment
	}
	return append(binary.BigEndian.AppendUint32(nil, h), b...)
}

func TestReadRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"one fragment", frag(true, []byte("abcd")), 100, []byte("abcd"), nil},
		{"three fragments", append(append(frag(false, []byte("ab")), frag(false, []byte("cd"))...), frag(true, []byte("ef"))...), 100, []byte("abcdef"), nil},
		{"empty last fragment", append(frag(false, []byte("ab")), frag(true, nil)...), 100, []byte("ab"), nil},
		{"too large", frag(true, make([]byte, 10)), 8, nil, ErrRecordTooLarge},
		{"too large over fragments", append(frag(false, make([]byte, 6)), frag(true, make([]byte, 6))...), 8, nil, ErrRecordTooLarge},
		{"eof at start", nil, 100, nil, io.EOF},
		{"eof in header", []byte{0x80, 0}, 100, nil, io.ErrUnexpectedEOF},
		{"eof in body", frag(true, []byte("abcd"))[:6], 100, nil, io.ErrUnexpectedEOF},
		{"eof between fragments", frag(false, []byte("ab")), 100, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadRecord(bytes.NewReader(tt.in), nil, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadRecordGrowsAsBytesArrive: a record mark alone, declaring a
// large record, makes ReadRecord hold no more than one step of buffer, not
// the declared size (a connection that sends only marks would otherwise
// pin a megabyte each); a large record that does arrive is read whole.
func TestReadRecordGrowsAsBytesArrive(t *testing.T) {
	const declared = 1 << 20
	mark := binary.BigEndian.AppendUint32(nil, declared|lastFragment)
	for _, tc := range []struct {
		name    string
		in      []byte
		wantErr error
		maxCap  int
	}{
		{"mark only", mark, io.ErrUnexpectedEOF, readStep},
		{"mark and 100 KiB", append(mark, make([]byte, 100<<10)...), io.ErrUnexpectedEOF, 4 * readStep},
		{"the whole record", append(mark, bytes.Repeat([]byte{7}, declared)...), nil, 2 * declared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRecord(bytes.NewReader(tc.in), nil, 2*declared)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if cap(got) > tc.maxCap {
				t.Fatalf("buffer of %d bytes for %d bytes received; want at most %d", cap(got), len(tc.in)-4, tc.maxCap)
			}
			if err == nil && (len(got) != declared || got[declared-1] != 7) {
				t.Fatalf("read %d bytes, want the %d sent", len(got), declared)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	buf := BeginRecord(nil)
	buf = append(buf, "payload!"...)
	EndRecord(buf)
	got, err := ReadRecord(bytes.NewReader(buf), make([]byte, 0, 3), 100)
	if err != nil || string(got) != "payload!" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestParseCall(t *testing.T) {
	cred := AuthSysCred{Stamp: 9, MachineName: "host", UID: 1000, GID: 100, GIDs: []uint32{4, 24}}
	var e xdr.Encoder
	AppendCall(&e, 0x1234, 100003, 3, 6, cred.Encode())
	e.Uint32(0xabcd) // an argument
	d := xdr.NewDecoder(e.Buf)
	h, err := ParseCall(d)
	if err != nil {
		t.Fatal(err)
	}
	if h.XID != 0x1234 || h.Prog != 100003 || h.Vers != 3 || h.Proc != 6 || h.Cred.Flavor != AuthSys || h.Verf.Flavor != AuthNone {
		t.Fatalf("header %+v", h)
	}
	if v := d.Uint32(); v != 0xabcd {
		t.Fatalf("argument %#x", v)
	}
	got, err := ParseAuthSys(h.Cred.Body)
	if err != nil || !reflect.DeepEqual(got, cred) {
		t.Fatalf("ParseAuthSys = %+v, %v", got, err)
	}
}

func TestParseCallErrors(t *testing.T) {
	mk := func(f func(e *xdr.Encoder)) []byte { var e xdr.Encoder; f(&e); return e.Buf }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrBadHeader},
		{"reply", mk(func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(MsgReply) }), ErrNotCall},
		{"rpc v3", mk(func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(MsgCall); e.Uint32(3) }), ErrRPCVersion},
		{"truncated cred", mk(func(e *xdr.Encoder) {
			e.Uint32(1)
			e.Uint32(MsgCall)
			e.Uint32(2)
			e.Uint32(1)
			e.Uint32(1)
			e.Uint32(1)
			e.Uint32(AuthSys)
			e.Uint32(40)
		}), ErrBadHeader},
		{"huge cred", mk(func(e *xdr.Encoder) {
			e.Uint32(1)
			e.Uint32(MsgCall)
			e.Uint32(2)
			e.Uint32(1)
			e.Uint32(1)
			e.Uint32(1)
			e.Uint32(AuthSys)
			e.Opaque(make([]byte, 404))
		}), ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCall(xdr.NewDecoder(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseAuthSysErrors(t *testing.T) {
	tooMany := AuthSysCred{GIDs: make([]uint32, 17)}.Encode().Body
	good := AuthSysCred{MachineName: "m"}.Encode().Body
	for name, in := range map[string][]byte{
		"too many groups": tooMany,
		"truncated":       good[:len(good)-2],
		"trailing":        append(append([]byte{}, good...), 0, 0, 0, 0),
		"empty":           nil,
	} {
		if _, err := ParseAuthSys(in); !errors.Is(err, ErrBadCred) {
			t.Errorf("%s: err = %v, want ErrBadCred", name, err)
		}
	}
}

func TestParseReply(t *testing.T) {
	var e xdr.Encoder
	AppendAcceptedReply(&e, 5, Success)
	e.Uint32(42)
	xid, res, err := ParseReply(e.Buf)
	if err != nil || xid != 5 || !bytes.Equal(res, []byte{0, 0, 0, 42}) {
		t.Fatalf("success: %d %v %v", xid, res, err)
	}
	tests := []struct {
		name string
		enc  func(e *xdr.Encoder)
		want ReplyError
	}{
		{"garbage", func(e *xdr.Encoder) { AppendAcceptedReply(e, 6, GarbageArgs) }, ReplyError{XID: 6, Accept: GarbageArgs}},
		{"prog mismatch", func(e *xdr.Encoder) { AppendProgMismatch(e, 7, 3, 3) }, ReplyError{XID: 7, Accept: ProgMismatch, Low: 3, High: 3}},
		{"auth", func(e *xdr.Encoder) { AppendAuthError(e, 8, AuthTooWeak) }, ReplyError{XID: 8, Denied: true, Reject: AuthError, Auth: AuthTooWeak}},
		{"rpc mismatch", func(e *xdr.Encoder) { AppendRPCMismatch(e, 9) }, ReplyError{XID: 9, Denied: true, Reject: RPCMismatch, Low: 2, High: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e xdr.Encoder
			tt.enc(&e)
			_, _, err := ParseReply(e.Buf)
			var re *ReplyError
			if !errors.As(err, &re) || *re != tt.want {
				t.Fatalf("err = %#v, want %#v", err, tt.want)
			}
		})
	}
}

// TestClientOutOfOrder checks that the client matches replies to calls by
// xid when a server answers in reverse order.
func TestClientOutOfOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var recs [][]byte
		for range 3 {
			rec, err := ReadRecord(conn, nil, 1<<20)
			if err != nil {
				return
			}
			recs = append(recs, rec)
		}
		for i := len(recs) - 1; i >= 0; i-- {
			h, err := ParseCall(xdr.NewDecoder(recs[i]))
			if err != nil {
				return
			}
			e := xdr.NewEncoder(BeginRecord(nil))
			AppendAcceptedReply(e, h.XID, Success)
			e.Uint32(h.Proc)
			EndRecord(e.Buf)
			conn.Write(e.Buf)
		}
	}()
	c, err := Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type result struct {
		proc uint32
		res  []byte
		err  error
	}
	out := make(chan result, 3)
	for p := uint32(1); p <= 3; p++ {
		go func() {
			res, err := c.Call(context.Background(), 1, 1, p, OpaqueAuth{}, nil)
			out <- result{p, res, err}
		}()
	}
	for range 3 {
		r := <-out
		if r.err != nil {
			t.Fatalf("proc %d: %v", r.proc, r.err)
		}
		if got := binary.BigEndian.Uint32(r.res); got != r.proc {
			t.Fatalf("proc %d got reply for %d", r.proc, got)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(frag(true, []byte("abcd")))
	f.Add(append(frag(false, []byte("ab")), frag(true, []byte("c"))...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for range 8 {
			rec, err := ReadRecord(r, nil, 1024)
			if err != nil {
				return
			}
			if len(rec) > 1024 {
				t.Fatalf("record of %d bytes above max", len(rec))
			}
		}
	})
}

func FuzzParseCall(f *testing.F) {
	var e xdr.Encoder
	AppendCall(&e, 1, 100003, 3, 1, AuthSysCred{MachineName: "x", UID: 1, GIDs: []uint32{2}}.Encode())
	f.Add(e.Buf)
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseCall(xdr.NewDecoder(in))
		if err != nil {
			return
		}
		if len(h.Cred.Body) > MaxAuthBody || len(h.Verf.Body) > MaxAuthBody {
			t.Fatalf("auth body above maximum")
		}
		if h.Cred.Flavor == AuthSys {
			c, err := ParseAuthSys(h.Cred.Body)
			if err == nil && (len(c.GIDs) > MaxGroups || len(c.MachineName) > MaxMachineName) {
				t.Fatalf("credential beyond limits: %+v", c)
			}
		}
	})
}

func FuzzParseReply(f *testing.F) {
	var e xdr.Encoder
	AppendProgMismatch(&e, 1, 3, 3)
	f.Add(e.Buf)
	f.Fuzz(func(t *testing.T, in []byte) { ParseReply(in) })
}
