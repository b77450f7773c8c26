package exports_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestEncryptedLocalJournalRevealsNothing: an encrypted export with
// durability = "local" whose store takes no writes acknowledges files
// with known names and contents from its local journal alone, and no file
// under the journal directory shows any of them (without encryption they
// are there, which shows the scan would see them). Closed without getting
// anything into the store, the next start ships the sealed journal and
// serves every file.
func TestEncryptedLocalJournalRevealsNothing(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		name := "encrypted"
		if !encrypted {
			name = "unencrypted control"
		}
		t.Run(name, func(t *testing.T) {
			e := newCryptEnv(t)
			enc := ""
			if encrypted {
				enc = fmt.Sprintf("encryption = true\nkey_file = %q\n", e.keyFile("team.key", 0x33))
			}
			cfg := e.config(fmt.Sprintf("[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = \"file://%s\"\nsquash = \"none\"\ndurability = \"local\"\n%s",
				filepath.Join(e.dir, "store"), enc))
			var faulty *faultstore.Store
			e.openStore = func(ctx context.Context, ec config.Export) (objstore.Store, error) {
				s, err := exports.OpenStore(ctx, ec, nil)
				if err != nil {
					return nil, err
				}
				faulty = faultstore.New(s, faultstore.Options{})
				return faulty, nil
			}
			s := e.mustServe(cfg, true)
			root := s.mount(t, "/team")
			faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}})
			writeSecrets(t, s.c, root)

			check := func(when string) {
				t.Helper()
				files := dirBlobs(t, cfg.Cache.JournalDir, "journal file")
				if len(files) < 2 {
					t.Fatalf("%s: %d files in the journal directory", when, len(files))
				}
				got := found(files)
				// A sealed journal keeps its writer epoch and each record's
				// first sequence number in the clear (docs/design.md): epoch 1
				// and record 1 are 01 and seven zeros, and when the random
				// byte after them (the salt's first, the ciphertext's first)
				// is 01, 1 time in 256, the file holds the root inode key's
				// nine bytes without holding the key. The records' plaintext
				// is caught by the other needles (names, contents, "format",
				// "nextino").
				delete(got, "root inode key")
				if encrypted {
					for name, where := range got {
						t.Errorf("%s: %s found in the clear in %s", when, name, where)
					}
					return
				}
				for _, name := range []string{"directory name", "file name", "content"} {
					if got[name] == "" {
						t.Errorf("control, %s: %s not found in the journal: the scan cannot see plaintext", when, name)
					}
				}
			}
			check("while serving")

			// Stop without getting anything into the store: what was
			// acknowledged stays in the journal.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s.c.Close()
			_ = s.srv.Shutdown(ctx)
			if err := s.reg.Close(ctx); err == nil {
				t.Fatal("closed cleanly with a store that takes no writes")
			}
			check("after the close")

			e.openStore = nil
			s = e.mustServe(cfg, true)
			defer s.close(t)
			if err := readSecrets(t, s.c, s.mount(t, "/team")); err != nil {
				t.Fatal(err)
			}
		})
	}
}
