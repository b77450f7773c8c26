package lsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestCloseReportsWhatWasNotFlushed: a Close that cannot flush everything
// (the store fails or stalls past ctx) says exactly which writes were not
// made durable; every write acknowledged as durable before it is there
// after reopening, and the unacknowledged ones it reported lost are not.
func TestCloseReportsWhatWasNotFlushed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fault breaks the store after the acknowledged writes.
		fault faultstore.Fault
		// closeTimeout bounds Close (0: no bound).
		closeTimeout time.Duration
		// walLost: the unacknowledged writes never reach a WAL object.
		walLost bool
		wantErr error
	}{
		{
			name:    "WAL PUTs fail",
			fault:   faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix)},
			walLost: true,
			wantErr: faultstore.ErrInjected,
		},
		{
			name:         "WAL PUTs stall past ctx",
			fault:        faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix), Action: faultstore.DelayOnly, Latency: time.Hour},
			closeTimeout: 300 * time.Millisecond,
			walLost:      true,
			wantErr:      context.DeadlineExceeded,
		},
		{
			name:    "SST PUTs fail",
			fault:   faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix)},
			wantErr: faultstore.ErrInjected,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			opts := smallOptions()
			opts.FlushInterval = time.Hour // only Flush and Close write the WAL
			db := mustOpen(t, faulty, opts)
			want := map[string]string{}
			for i := range 10 {
				k := fmt.Sprintf("acked%02d", i)
				if err := db.Put(ctx, []byte(k), []byte(k), WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				want[k] = k
			}
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			ackedSeq := db.Stats().LastSeq
			faulty.Inject(tc.fault)
			const batches, perBatch = 7, 3
			for i := range batches {
				var b Batch
				for j := range perBatch {
					k := fmt.Sprintf("unacked%02d-%d", i, j)
					b.Put([]byte(k), []byte(k))
				}
				if err := db.Write(ctx, &b, WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			cctx := ctx
			if tc.closeTimeout > 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, tc.closeTimeout)
				defer cancel()
			}
			start := time.Now()
			err := db.Close(cctx)
			if tc.closeTimeout > 0 && time.Since(start) > tc.closeTimeout+5*time.Second {
				t.Fatalf("Close took %v past a %v ctx", time.Since(start), tc.closeTimeout)
			}
			var ue *UnflushedError
			if !errors.As(err, &ue) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Close = %v, want an *UnflushedError wrapping %v", err, tc.wantErr)
			}
			if ue.MemtableBytes == 0 {
				t.Errorf("no memtable bytes reported unflushed: %+v", ue)
			}
			if tc.walLost {
				if ue.Batches != batches || ue.Writes != batches*perBatch ||
					ue.FirstSeq != ackedSeq+1 || ue.LastSeq != ackedSeq+batches*perBatch || ue.WALBytes == 0 {
					t.Fatalf("reported lost: %+v; want %d batches, %d writes, seqs %d to %d and their WAL bytes",
						ue, batches, batches*perBatch, ackedSeq+1, ackedSeq+batches*perBatch)
				}
			} else {
				if ue.Batches != 0 || ue.Writes != 0 || ue.WALBytes != 0 {
					t.Fatalf("reported lost with every WAL PUT working: %+v", ue)
				}
				for i := range batches {
					for j := range perBatch {
						k := fmt.Sprintf("unacked%02d-%d", i, j)
						want[k] = k
					}
				}
			}
			t.Logf("Close: %v", err)
			faulty.ClearFaults()
			db2 := mustOpen(t, faulty, opts)
			defer db2.Close(ctx)
			for k, v := range want {
				if got := mustGet(t, db2, k); got != v {
					t.Fatalf("after reopen %s = %q, want %q", k, got, v)
				}
			}
			if tc.walLost {
				if _, err := db2.Get(ctx, []byte("unacked00-0")); !errors.Is(err, ErrNotFound) {
					t.Fatalf("a write Close reported lost reads back: %v", err)
				}
			}
		})
	}
}

// TestCloseWithPendingFlushLogsNoRetry: a memtable waiting for its WAL
// object when Close gives up is replayed from the WAL at the next open; the
// flush loop must stop quietly, not log a flush "failure" it will never
// retry (misleading in exactly the log an operator reads after a shutdown).
func TestCloseWithPendingFlushLogsNoRetry(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	var logs testenv.SyncBuffer
	opts := smallOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	db := mustOpen(t, faulty, opts)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix)})
	for i := range 64 { // several memtables of 16 KiB: frozen ones wait for their WAL objects
		if err := db.Put(ctx, fmt.Appendf(nil, "k%03d", i), make([]byte, 1<<10), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if db.Stats().ImmutableBytes == 0 {
		t.Fatal("no frozen memtable pending: the test does not exercise the flush loop")
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := db.Close(cctx); err == nil {
		t.Fatal("Close succeeded although no WAL object could be written")
	}
	if strings.Contains(logs.String(), "memtable flush failed") {
		t.Errorf("Close made the flush loop log a failure:\n%s", logs.String())
	}
}
