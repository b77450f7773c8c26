package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestS3ExportEndToEnd runs the daemon on a real S3 server (versitygw on
// 127.0.0.1) with two exports in one bucket: one configured in [exports.s3],
// one from the AWS_* environment. It writes, commits, kills -9, checks fsck,
// restarts and verifies content, names and pre-crash handles.
func TestS3ExportEndToEnd(t *testing.T) {
	env := testenv.S3(t)
	seed := suiteSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	ctx := stepContext(t)
	dir := t.TempDir()
	d := newSuiteDaemon(t, dir, suiteConfig{Exports: []exportSpec{
		{Name: "s3-file", Store: "s3://" + env.Bucket + "/exports/file", Extra: s3ExportExtra(env)},
		// Bucket, endpoint and credentials from the environment below.
		{Name: "s3-env", Store: "s3:///exports/env", Extra: "squash = \"none\"\nsync = \"strict\""},
	}},
		"AWS_ENDPOINT_URL="+env.Endpoint, "AWS_S3_BUCKET="+env.Bucket, "AWS_ACCESS_KEY_ID="+env.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+env.SecretAccessKey, "AWS_DEFAULT_REGION="+env.Region, "AWS_ALLOW_HTTP=true")
	d.Start()

	type file struct {
		export, name string
		fh           []byte
		data         []byte
	}
	var files []*file
	renamedFrom := map[string]string{} // export -> the big file's name before its rename
	for _, export := range []string{"s3-file", "s3-env"} {
		m := suiteMustDial(t, d.addr, "/"+export)
		sub, err := m.c.Mkdir(ctx, m.root, "sub", nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
		if err != nil {
			t.Fatalf("%s: MKDIR sub: %v", export, err)
		}
		for i, size := range []int{0, 1, 4095, 64 << 10, 64<<10 + 1, 1<<20 + 4321} {
			name := fmt.Sprintf("f%d-%d", i, size)
			fh, err := suiteCreate(ctx, m.c, sub.FH, name)
			if err != nil {
				t.Fatalf("%s: %v", export, err)
			}
			data := suiteRandomBytes(rng, size)
			stable := uint32(nfsclient.Unstable)
			if i%2 == 1 {
				stable = nfsclient.FileSync
			}
			if err := suiteWriteAll(ctx, m.c, fh, 0, data, stable); err != nil {
				t.Fatalf("%s: writing %s: %v", export, name, err)
			}
			files = append(files, &file{export: export, name: "sub/" + name, fh: fh, data: data})
		}
		// A partial overwrite inside a chunk of the big file, and a rename.
		big := files[len(files)-1]
		patch := suiteRandomBytes(rng, 777)
		if _, err := m.c.Write(ctx, big.fh, 70000, patch, nfsclient.Unstable); err != nil {
			t.Fatalf("%s: patching: %v", export, err)
		}
		copy(big.data[70000:], patch)
		if _, err := m.c.Rename(ctx, sub.FH, strings.TrimPrefix(big.name, "sub/"), m.root, "big-renamed"); err != nil {
			t.Fatalf("%s: RENAME: %v", export, err)
		}
		renamedFrom[export] = big.name
		big.name = "big-renamed"
		if _, err := m.c.Commit(ctx, big.fh, 0, 0); err != nil {
			t.Fatalf("%s: COMMIT: %v", export, err)
		}
	}

	d.Kill()
	summaries := suiteFsck(t, d, "s3-file", "s3-env")
	d.Start()

	var verified int
	mounts := map[string]*suiteMount{}
	for _, f := range files {
		m := mounts[f.export]
		if m == nil {
			m = suiteMustDial(t, d.addr, "/"+f.export)
			mounts[f.export] = m
		}
		// By name...
		fh, err := lookupPath(ctx, m, f.name)
		if err != nil {
			t.Fatalf("%s:%s after kill -9 and restart: %v", f.export, f.name, err)
		}
		if !bytes.Equal(fh, f.fh) {
			t.Errorf("%s:%s: handle changed across the restart", f.export, f.name)
		}
		// ...and through the handle from before the crash.
		got, err := suiteReadAll(ctx, m.c, f.fh)
		if err != nil {
			t.Fatalf("%s:%s through its old handle: %v", f.export, f.name, err)
		}
		if !bytes.Equal(got, f.data) {
			t.Fatalf("%s:%s: %d bytes sha256 %s, want %d bytes sha256 %s", f.export, f.name, len(got), suiteSum(got), len(f.data), suiteSum(f.data))
		}
		verified += len(got)
	}
	for export, m := range mounts {
		if _, err := lookupPath(ctx, m, renamedFrom[export]); err == nil {
			t.Errorf("%s: %s still exists after its committed rename", export, renamedFrom[export])
		}
	}
	if strings.Contains(d.Logs(), env.SecretAccessKey) {
		t.Errorf("the daemon's log shows the secret access key")
	}
	d.Stop()
	t.Logf("PROVED on S3 (%s, bucket %s): 2 exports (keys in [exports.s3], and from AWS_* env), %d files, %d bytes written with UNSTABLE+COMMIT and FILE_SYNC survived kill -9 byte for byte, renames kept, pre-crash handles valid; fsck after the kill: %v",
		env.Endpoint, env.Bucket, len(files), verified, summaries)
}

// lookupPath resolves a slash-separated path from m's root.
func lookupPath(ctx context.Context, m *suiteMount, path string) ([]byte, error) {
	fh := m.root
	for _, part := range strings.Split(path, "/") {
		next, _, err := m.c.Lookup(ctx, fh, part)
		if err != nil {
			return nil, fmt.Errorf("LOOKUP %s in %s: %w", part, path, err)
		}
		fh = next
	}
	return fh, nil
}

// TestS3RefusesPlainHTTP checks that the daemon refuses an http:// endpoint
// unless allow_http or AWS_ALLOW_HTTP says so: a clear error naming the key,
// and a nonzero exit, whether the endpoint comes from the file or the
// environment.
func TestS3RefusesPlainHTTP(t *testing.T) {
	cases := []struct {
		name     string
		extra    string   // export TOML
		env      []string // on top of an environment without AWS_*
		wantKeys []string // what the error must name
	}{
		{
			name:     "endpoint in the export",
			extra:    "[exports.s3]\nendpoint = \"http://127.0.0.1:9\"\naccess_key_id = \"k\"\nsecret_access_key = \"s3cr3t-never-shown\"\n",
			wantKeys: []string{"exports[0].s3.endpoint", "allow_http", "AWS_ALLOW_HTTP"},
		},
		{
			name:     "endpoint from the environment",
			env:      []string{"AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s3cr3t-never-shown"},
			wantKeys: []string{"AWS_ENDPOINT_URL", "allow_http", "AWS_ALLOW_HTTP"},
		},
		{
			name:     "allow_http = false said explicitly",
			extra:    "[exports.s3]\nendpoint = \"http://127.0.0.1:9\"\nallow_http = false\n",
			env:      []string{"AWS_ALLOW_HTTP=true"}, // the export's own setting wins
			wantKeys: []string{"exports[0].s3.endpoint", "allow_http"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "zerofs.toml")
			text := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:%d\"\nportmapper = \"off\"\n[cache]\ndir = %q\nsize_gb = 0.1\n[[exports]]\nname = \"s3\"\npath = \"/s3\"\nstore = \"s3://bucket/prefix\"\n%s",
				freePort(t), filepath.Join(dir, "cache"), tc.extra)
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"run", "check-config"} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, zerofsdBinary, sub, "-c", cfg)
				cmd.Env = append(withoutAWSEnv(), tc.env...)
				out, err := cmd.CombinedOutput()
				timedOut := ctx.Err() != nil
				cancel()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 || timedOut {
					t.Fatalf("zerofsd %s with a plain http:// endpoint: err %v (want a nonzero exit, not a timeout); output:\n%s", sub, err, out)
				}
				for _, key := range tc.wantKeys {
					if !strings.Contains(string(out), key) {
						t.Errorf("zerofsd %s: the error does not name %s:\n%s", sub, key, out)
					}
				}
				if strings.Contains(string(out), "s3cr3t-never-shown") {
					t.Errorf("zerofsd %s printed the secret access key:\n%s", sub, out)
				}
				t.Logf("zerofsd %s refused (exit %d): %s", sub, exit.ExitCode(), strings.TrimSpace(string(out)))
			}
		})
	}
}

// withoutAWSEnv is the test's environment without AWS_* and SLATEDB_* variables.
func withoutAWSEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "SLATEDB_")
	})
}
