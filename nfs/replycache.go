package nfs

import (
	"container/list"
	"net/netip"
	"sync"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// replyCache is a duplicate request cache for non-idempotent procedures
// (CREATE, REMOVE, RENAME, ...). A client that lost a reply (a dropped
// connection, a timeout) sends the same call again with the same xid; the
// second execution would fail (NFS3ERR_EXIST, NFS3ERR_NOENT) although the
// first succeeded. The cache answers such a retransmission with the
// first reply, and drops it while the first is still running.
//
// Calls are keyed by client IP (not port: a client reconnects from
// another port), xid, procedure and a checksum of the arguments. The cache
// holds at most max completed replies, least recently used out first.
type replyCache struct {
	mu      sync.Mutex
	max     int
	entries map[replyKey]*list.Element
	lru     list.List // of *replyEntry, most recent at the front
}

type replyKey struct {
	client netip.Addr
	xid    uint32
	proc   uint32
	sum    uint32
}

type replyEntry struct {
	key   replyKey
	reply *cachedReply // nil while the call is in progress
}

// cachedReply is the reply of a completed call and what the Observer is
// told about it when a retransmission is answered with it.
type cachedReply struct {
	// reply is the RPC message, without record mark.
	reply  []byte
	export string
	status uint32
}

func newReplyCache(max int) *replyCache {
	return &replyCache{max: max, entries: make(map[replyKey]*list.Element)}
}

func makeReplyKey(client netip.Addr, xid, proc uint32, args []byte) replyKey {
	return replyKey{client: client, xid: xid, proc: proc, sum: crc32c.Checksum(args)}
}

// begin registers a call. It returns (nil, true) for a new call, which
// must be finished with finish; (reply, false) for a retransmission of a
// completed call; and (nil, false) for one still in progress.
func (c *replyCache) begin(k replyKey) (*cachedReply, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*replyEntry).reply, false
	}
	c.entries[k] = c.lru.PushFront(&replyEntry{key: k})
	// Evict completed entries, oldest first; calls in progress stay.
	for el := c.lru.Back(); el != nil && c.lru.Len() > c.max; {
		prev := el.Prev()
		if e := el.Value.(*replyEntry); e.reply != nil {
			c.lru.Remove(el)
			delete(c.entries, e.key)
		}
		el = prev
	}
	return nil, true
}

// finish records the reply of a call started with begin, copying its
// bytes; a nil reply forgets the call.
func (c *replyCache) finish(k replyKey, reply *cachedReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return
	}
	if reply == nil {
		c.lru.Remove(el)
		delete(c.entries, k)
		return
	}
	el.Value.(*replyEntry).reply = &cachedReply{
		reply:  append([]byte(nil), reply.reply...),
		export: reply.export,
		status: reply.status,
	}
}
