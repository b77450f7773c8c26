package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// runJournal is `zerofsd journal list|extract --export NAME [--tail T]`:
// the tails of an export's local journal (durability = "local") that
// recovery set aside instead of applying them (another writer had taken
// the export over, or the journal was damaged). list describes each one;
// extract writes the records of one as JSON lines, one per entry:
//
//	{"seq":42,"op":"set","key":"<base64>","value":"<base64>","epoch":7}
//	{"seq":43,"op":"delete","key":"<base64>","epoch":7}
//
// Keys and values are the export's database entries (kvfs's encoding);
// values the journal holds compressed are written decompressed.
// Neither command changes anything; both work while the daemon runs. The
// journal of an encrypted export is sealed: both commands then read the
// export's keyring from its store and unlock it with the configured key
// (key_file, or the passphrase in ZEROFS_KEY_<NAME>), and fail without it.
func runJournal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: journal needs an action: list or extract", errUsage)
	}
	action, args := args[0], args[1:]
	if isHelp(action) {
		fmt.Fprintln(stdout, "usage: zerofsd journal list|extract -c FILE --export NAME [--tail T]")
		return nil
	}
	fs, path := newFlags("journal "+action, stderr)
	export := fs.String("export", "", "export `name` (required)")
	tail := fs.String("tail", "", "extract: the set-aside tail's `name`, as journal list prints it (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireArgsDone(fs); err != nil {
		return err
	}
	switch action {
	case "list", "extract":
	default:
		return fmt.Errorf("%w: unknown journal action %q (want list or extract)", errUsage, action)
	}
	if *export == "" {
		return fmt.Errorf("%w: --export is required", errUsage)
	}
	if action == "extract" && *tail == "" {
		return fmt.Errorf("%w: journal extract needs --tail", errUsage)
	}
	cfg, ec, err := loadExportConfig(*path, *export)
	if err != nil {
		return err
	}
	dir, err := exports.JournalDir(cfg, ec)
	if err != nil {
		return err
	}
	c, err := exports.JournalCipher(ctx, ec, maintenanceLogger(cfg, stderr))
	if err != nil {
		return err
	}
	if action == "list" {
		tails, err := journal.ListOrphans(nil, dir, c)
		if err != nil {
			return fmt.Errorf("export %s: %w%s", *export, err, sealedHint(err))
		}
		if len(tails) == 0 {
			fmt.Fprintf(stdout, "export %s: no set-aside journal tails in %s\n", *export, dir)
		}
		for _, t := range tails {
			reason, _, _ := strings.Cut(t.Reason, "\n")
			fmt.Fprintf(stdout, "%s\t%d records\tseq %d-%d\t%d bytes\t%d damaged bytes\t%s\n",
				t.Name, t.Records, t.FirstSeq, t.LastSeq, t.Bytes, t.Damaged, reason)
		}
		return nil
	}
	if err := extractTail(dir, *tail, c, stdout, stderr); err != nil {
		return fmt.Errorf("export %s: %w%s", *export, err, sealedHint(err))
	}
	return nil
}

// sealedHint explains an ErrSealed: the export is configured without
// encryption, yet its journal is sealed.
func sealedHint(err error) string {
	if !errors.Is(err, journal.ErrSealed) {
		return ""
	}
	return " (the export is configured without encryption: set encryption = true and give its key)"
}

type extractedEntry struct {
	Seq   uint64 `json:"seq"`
	Op    string `json:"op"`
	Key   []byte `json:"key"`
	Value []byte `json:"value,omitempty"`
	Epoch uint64 `json:"epoch"`
}

func extractTail(dir, tail string, c journal.Cipher, stdout, stderr io.Writer) error {
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	codecs := compress.NewCodecs()
	err := journal.ReadOrphan(nil, dir, tail, c, func(h journal.Header, r wal.Record) error {
		seq := r.FirstSeq
		return r.ForEach(func(kind wal.Kind, key, value []byte) error {
			e := extractedEntry{Seq: seq, Op: "set", Key: key, Value: value, Epoch: h.Epoch}
			switch kind {
			case wal.KindDelete:
				e.Op, e.Value = "delete", nil
			case wal.KindSetCompressed:
				v, err := vlog.Decompress(value, codecs, compress.MaxDecoded)
				if err != nil {
					return fmt.Errorf("entry %d: %w", seq, err)
				}
				e.Value = v
			}
			seq++
			return enc.Encode(e)
		})
	}, func(file string, off, n int64) {
		fmt.Fprintf(stderr, "skipped %d damaged bytes in %s at offset %d\n", n, file, off)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("journal tail %s: %w", tail, err)
	}
	return nil
}
