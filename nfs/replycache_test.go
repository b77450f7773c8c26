package nfs

import (
	"net/netip"
	"testing"
)

func TestReplyCache(t *testing.T) {
	c := newReplyCache(2)
	ip := netip.MustParseAddr("10.0.0.1")
	k := func(xid uint32) replyKey { return makeReplyKey(ip, xid, ProcRemove, []byte("args")) }

	if r, fresh := c.begin(k(1)); r != nil || !fresh {
		t.Fatalf("new call: %v %v", r, fresh)
	}
	if r, fresh := c.begin(k(1)); r != nil || fresh {
		t.Fatalf("call in progress: %v %v", r, fresh)
	}
	c.finish(k(1), &cachedReply{reply: []byte("reply1"), export: "a", status: 2})
	if r, fresh := c.begin(k(1)); r == nil || string(r.reply) != "reply1" || r.export != "a" || r.status != 2 || fresh {
		t.Fatalf("completed call: %+v %v", r, fresh)
	}
	// Other arguments or another client are other calls.
	if _, fresh := c.begin(makeReplyKey(ip, 1, ProcRemove, []byte("other"))); !fresh {
		t.Fatal("same xid with other arguments treated as a retransmission")
	}
	if _, fresh := c.begin(makeReplyKey(netip.MustParseAddr("10.0.0.2"), 1, ProcRemove, []byte("args"))); !fresh {
		t.Fatal("same xid from another client treated as a retransmission")
	}
	// A failed call is forgotten.
	c.finish(makeReplyKey(ip, 1, ProcRemove, []byte("other")), nil)
	if _, fresh := c.begin(makeReplyKey(ip, 1, ProcRemove, []byte("other"))); !fresh {
		t.Fatal("forgotten call still cached")
	}
	// Completed entries are evicted beyond the size, least recent first.
	for xid := uint32(10); xid < 20; xid++ {
		c.begin(k(xid))
		c.finish(k(xid), &cachedReply{reply: []byte("r")})
	}
	if len(c.entries) > 2+2 { // two in-progress entries are never evicted
		t.Fatalf("cache holds %d entries", len(c.entries))
	}
	if _, fresh := c.begin(k(10)); !fresh {
		t.Fatal("oldest entry not evicted")
	}
}
