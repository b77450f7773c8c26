package main

import (
	"strings"
	"testing"
	"time"
)

const mountstatsSample = `device rootfs mounted on / with fstype rootfs
device 10.0.2.2:/local mounted on /tmp/nfs with fstype nfs statvers=1.1
	opts:	rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,soft,nolock,proto=tcp,port=2049,timeo=600,retrans=2,sec=sys,mountaddr=10.0.2.2,mountvers=3,mountport=2049,mountproto=tcp,local_lock=all
	age:	12
	caps:	caps=0x3fcf,wtmult=4096,dtsize=1048576,bsize=0,namlen=255
	sec:	flavor=1,pseudoflavor=1
	events:	3 40 0 0 2 4 47 0 0 1 0 0 0 0 1 0 0 1 0 0 0 0 0 0 0 0 0
	bytes:	0 20 0 0 0 20 0 20
	RPC iostats version: 1.1  p/v: 100003/3 (nfs)
	xprt:	tcp 0 0 1 0 11 30 30 0 30 0 2 0 0
	per-op statistics
	        NULL: 1 1 0 44 24 0 4 4 0
	     GETATTR: 10 10 0 1200 1120 1 50 52 0
	      LOOKUP: 4 4 0 560 240 0 20 21 4
	       WRITE: 0 0 0 0 0 0 0 0 0
device 10.0.2.2:/other mounted on /tmp/other with fstype nfs statvers=1.1
	per-op statistics
	     GETATTR: 99 99 0 1200 1120 1 500 520 0
`

func TestParseMountstats(t *testing.T) {
	ops, ok := parseMountstats(mountstatsSample, "/tmp/nfs")
	if !ok {
		t.Fatal("mount /tmp/nfs not found")
	}
	want := ClientOps{
		"NULL":    {Calls: 1, RTT: 4 * time.Millisecond, Execute: 4 * time.Millisecond},
		"GETATTR": {Calls: 10, RTT: 50 * time.Millisecond, Execute: 52 * time.Millisecond},
		"LOOKUP":  {Calls: 4, RTT: 20 * time.Millisecond, Execute: 21 * time.Millisecond},
	}
	if len(ops) != len(want) {
		t.Fatalf("got %v, want %v", ops, want)
	}
	for k, v := range want {
		if ops[k] != v {
			t.Errorf("%s = %+v, want %+v", k, ops[k], v)
		}
	}
	if _, ok := parseMountstats(mountstatsSample, "/mnt"); ok {
		t.Error("found a mount that is not there")
	}
	if _, ok := parseMountstats("garbage\n\tGETATTR: x y z\n", "/tmp/nfs"); ok {
		t.Error("found a mount in garbage")
	}
}

func TestClientOpsSubTotalTop(t *testing.T) {
	before := ClientOps{"GETATTR": {Calls: 10, RTT: 50 * time.Millisecond, Execute: 52 * time.Millisecond}}
	after := ClientOps{
		"GETATTR": {Calls: 14, RTT: 70 * time.Millisecond, Execute: 80 * time.Millisecond},
		"CREATE":  {Calls: 6, RTT: 60 * time.Millisecond, Execute: 61 * time.Millisecond},
	}
	d := after.Sub(before)
	if d["GETATTR"] != (ClientOp{Calls: 4, RTT: 20 * time.Millisecond, Execute: 28 * time.Millisecond}) {
		t.Errorf("GETATTR difference = %+v", d["GETATTR"])
	}
	if tot := d.Total(); tot != (ClientOp{Calls: 10, RTT: 80 * time.Millisecond, Execute: 89 * time.Millisecond}) {
		t.Errorf("total = %+v", tot)
	}
	if top := d.Top(1); !strings.HasPrefix(top, "CREATE 6 (10") || strings.Contains(top, "GETATTR") {
		t.Errorf("Top(1) = %q", top)
	}
	if unchanged := before.Sub(before); len(unchanged) != 0 {
		t.Errorf("no calls between equal snapshots, got %v", unchanged)
	}
}
