package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	cfg := mustLoad(t, validBase+oneExport, nil)
	s := cfg.Server
	if s.Listen != DefaultListen || s.LogLevel != slog.LevelInfo || s.LogFormat != LogFormatText ||
		s.MetricsListen != "" || s.MaxConnections != 512 || s.MaxRequestsPerConn != 64 || s.ShutdownTimeout != 90*time.Second ||
		s.Portmapper != PortmapperAuto || s.PortmapperListen != "127.0.0.1:111" {
		t.Errorf("server defaults: %+v", s)
	}
	if cfg.Cache.MemoryMB != 256 {
		t.Errorf("cache.memory_mb = %d, want 256", cfg.Cache.MemoryMB)
	}
	if cfg.Cache.ReadAheadMB != 64 {
		t.Errorf("cache.read_ahead_mb = %d, want 64", cfg.Cache.ReadAheadMB)
	}
	if want := filepath.Join(cfg.Cache.Dir, "journal"); cfg.Cache.JournalDir != want {
		t.Errorf("cache.journal_dir = %q, want %q", cfg.Cache.JournalDir, want)
	}
	if cfg.S3.Bucket != "slatedb" || cfg.S3.Region != "us-east-1" || cfg.S3.AllowHTTP || cfg.S3.Endpoint != "" {
		t.Errorf("s3 defaults: %+v", cfg.S3)
	}
	if cfg.LSM.FlushInterval != 50*time.Millisecond || cfg.LSM.ShipInterval != 500*time.Millisecond || cfg.LSM.MemtableMB != 64 || cfg.LSM.MaxUnflushedMB != 256 || cfg.LSM.Compression != CompressionSnappy {
		t.Errorf("lsm defaults: %+v", cfg.LSM)
	}
	e := cfg.Exports[0]
	if e.ReadOnly || e.Secure || e.AllowedClients != nil || e.Squash != SquashRoot || e.AnonUID != 65534 || e.AnonGID != 65534 ||
		e.Durability != DurabilityBucket || e.Sync != SyncCommit || e.StrictSync() || e.InodeCacheEntries != 100000 || e.SizeLimitGB != 0 {
		t.Errorf("export defaults: %+v", e)
	}
	if e.Store != (StoreURL{Scheme: SchemeMemory, Prefix: "a"}) {
		t.Errorf("store = %+v", e.Store)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRootModeForms: the octal forms root_mode accepts.
func TestRootModeForms(t *testing.T) {
	for in, want := range map[string]uint32{"2775": 0o2775, "0755": 0o755, "755": 0o755, "0o1777": 0o1777, "0": 0, "3777": 0o3777} {
		e := mustLoad(t, validBase+oneExport+"root_mode = \""+in+"\"\n", nil).Exports[0]
		if e.RootMode == nil || *e.RootMode != want {
			t.Errorf("root_mode %q = %v, want %#o", in, e.RootMode, want)
		}
	}
	if e := mustLoad(t, validBase+oneExport, nil).Exports[0]; e.RootMode != nil || e.RootOwner != nil {
		t.Errorf("absent root_mode and root_owner: %v %v, want nil", e.RootMode, e.RootOwner)
	}
}

// TestPortmapperListenDefault: port 111 on the host of server.listen.
func TestPortmapperListenDefault(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:2049": "127.0.0.1:111",
		":2049":          ":111",
		"0.0.0.0:12049":  "0.0.0.0:111",
		"[::1]:2049":     "[::1]:111",
	} {
		s := mustLoad(t, validBase+"[server]\nlisten = \""+listen+"\"\n"+oneExport, nil).Server
		if s.PortmapperListen != want {
			t.Errorf("listen %q: portmapper_listen = %q, want %q", listen, s.PortmapperListen, want)
		}
	}
}

// TestAnonIDs: an absent anon_uid/anon_gid is DefaultAnonID; 0 is root,
// kept as 0 (the NFS server takes the values as given).
func TestAnonIDs(t *testing.T) {
	tests := []struct {
		name             string
		keys             string
		wantUID, wantGID uint32
	}{
		{"absent", "", DefaultAnonID, DefaultAnonID},
		{"both zero", "anon_uid = 0\nanon_gid = 0\n", 0, 0},
		{"uid zero only", "anon_uid = 0\n", 0, DefaultAnonID},
		{"gid zero only", "anon_gid = 0\n", DefaultAnonID, 0},
		{"set", "anon_uid = 1000\nanon_gid = 100\n", 1000, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustLoad(t, validBase+oneExport+tt.keys, nil).Exports[0]
			if e.AnonUID != tt.wantUID || e.AnonGID != tt.wantGID {
				t.Errorf("anon = %d:%d, want %d:%d", e.AnonUID, e.AnonGID, tt.wantUID, tt.wantGID)
			}
		})
	}
}

func TestEveryKeyIsRead(t *testing.T) {
	cfg, err := Load(writeFileWith(t, `
[server]
listen = "0.0.0.0:12049"
log_level = "debug"
log_format = "json"
metrics_listen = "127.0.0.1:9100"
max_connections = 10
max_requests_per_conn = 8
shutdown_timeout = "2m30s"
portmapper = "Serve"
portmapper_listen = "0.0.0.0:1111"
[cache]
dir = "/var/cache/zerofs"
size_gb = 2.5
memory_mb = 0
read_ahead_mb = 0
journal_dir = "/var/lib/zerofs/journal"
[s3]
endpoint = "https://s3.example.com"
bucket = "main-bucket"
access_key_id = "AKIDFILE"
secret_access_key = "file-secret-value"
region = "eu-west-1"
allow_http = true
[lsm]
flush_interval = "20ms"
ship_interval = "2s"
memtable_mb = 16
max_unflushed_mb = 48
compression = "zstd"
zstd_level = 9
gc_interval = "30s"
gc_min_age = "1h"
[[exports]]
name = "a_1"
path = "/srv/a"
store = "s3:///teams/a/"
read_only = true
secure = true
allowed_clients = ["10.1.2.3", "10.0.0.0/8", "fd00::/8", "192.168.1.77/24"]
squash = "all"
anon_uid = 1000
anon_gid = 0
durability = "local"
sync = "strict"
inode_cache_entries = 5000
size_limit_gb = 0.25
root_owner = "0:1000"
root_mode = "2775"
compression = "none"
snapshot_dir = ".snap"
[exports.s3]
endpoint = "https://other.example.com/"
access_key_id = "AKIDEXPORT"
secret_access_key = "export-secret-value"
region = "auto"
allow_http = false
[[exports]]
name = "b"
path = "/b"
store = "memory://b"
encryption = true
key_file = "b.key"
zstd_level = 1
`, map[string]string{"b.key": validKey}), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		File: cfg.File,
		Server: Server{Listen: "0.0.0.0:12049", LogLevel: slog.LevelDebug, LogFormat: LogFormatJSON,
			MetricsListen: "127.0.0.1:9100", MaxConnections: 10, MaxRequestsPerConn: 8, ShutdownTimeout: 150 * time.Second,
			Portmapper: PortmapperServe, PortmapperListen: "0.0.0.0:1111"},
		Cache: Cache{Dir: "/var/cache/zerofs", SizeGB: 2.5, MemoryMB: 0, ReadAheadMB: 0, JournalDir: "/var/lib/zerofs/journal"},
		S3: S3{Endpoint: "https://s3.example.com", Bucket: "main-bucket", AccessKeyID: "AKIDFILE",
			SecretAccessKey: "file-secret-value", Region: "eu-west-1", AllowHTTP: true},
		LSM: LSM{FlushInterval: 20 * time.Millisecond, ShipInterval: 2 * time.Second, MemtableMB: 16, MaxUnflushedMB: 48, Compression: CompressionZstd, ZstdLevel: 9, GCInterval: 30 * time.Second, GCMinAge: time.Hour},
		Exports: []Export{{
			Name: "a_1", Path: "/srv/a",
			Store: StoreURL{Scheme: SchemeS3, Bucket: "main-bucket", Prefix: "teams/a"},
			S3: S3{Endpoint: "https://other.example.com/", Bucket: "main-bucket", AccessKeyID: "AKIDEXPORT",
				SecretAccessKey: "export-secret-value", Region: "auto", AllowHTTP: false},
			ReadOnly: true, Secure: true,
			AllowedClients: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.1.0/24")},
			Squash: SquashAll, AnonUID: 1000, AnonGID: 0, Durability: DurabilityLocal, Sync: SyncStrict, InodeCacheEntries: 5000, SizeLimitGB: 0.25,
			RootOwner: &Owner{UID: 0, GID: 1000}, RootMode: ptr(uint32(0o2775)), SnapshotDir: ".snap",
			Compression: CompressionNone, ZstdLevel: 9,
			Encryption: Encryption{PassphraseEnv: "ZEROFS_KEY_A_1"},
		}, {
			Name: "b", Path: "/b", Store: StoreURL{Scheme: SchemeMemory, Prefix: "b"},
			Squash: DefaultSquash, AnonUID: DefaultAnonID, AnonGID: DefaultAnonID, Durability: DefaultDurability, Sync: DefaultSync,
			SyncDefaulted: true, InodeCacheEntries: DefaultInodeCacheEntries, Compression: CompressionZstd, ZstdLevel: 1,
			Encryption: Encryption{Enabled: true, KeyFile: filepath.Join(filepath.Dir(cfg.File), "b.key"), PassphraseEnv: "ZEROFS_KEY_B"},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%#v\nwant\n%#v", cfg, want)
	}
	if got := cfg.Exports[0].SizeLimitBytes(); got != 250_000_000 {
		t.Errorf("SizeLimitBytes = %d", got)
	}
	if got := cfg.Cache.SizeBytes(); got != 2_500_000_000 {
		t.Errorf("SizeBytes = %d", got)
	}
	if !cfg.Exports[0].StrictSync() {
		t.Errorf("StrictSync = false for sync = strict")
	}
}

// TestLocalDurabilityDefaultsToStrict: durability = "local" makes strict
// metadata the default (a strict reply costs one shared local fsync);
// sync = "commit" stays available explicitly.
func TestLocalDurabilityDefaultsToStrict(t *testing.T) {
	for _, tc := range []struct {
		extra     string
		want      SyncMode
		defaulted bool
	}{
		{"", SyncCommit, true},
		{`durability = "bucket"`, SyncCommit, true},
		{`durability = "local"`, SyncStrict, true},
		{"durability = \"LOCAL\"\nsync = \"commit\"", SyncCommit, false},
		{"durability = \"bucket\"\nsync = \"strict\"", SyncStrict, false},
	} {
		cfg := mustLoad(t, validBase+"[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\n"+tc.extra+"\n", nil)
		if got := cfg.Exports[0].Sync; got != tc.want {
			t.Errorf("%q: sync = %s, want %s", tc.extra, got, tc.want)
		}
		if got := cfg.Exports[0].SyncDefaulted; got != tc.defaulted {
			t.Errorf("%q: SyncDefaulted = %v, want %v", tc.extra, got, tc.defaulted)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := `
[cache]
dir = "/from/file"
size_gb = 1
[s3]
endpoint = "https://file.example"
bucket = "file-bucket"
region = "file-region"
access_key_id = "FILEID"
secret_access_key = "file-secret"
allow_http = false
[[exports]]
name = "plain"
path = "/plain"
store = "s3:///p"
[[exports]]
name = "own"
path = "/own"
store = "s3://own-bucket/q"
[exports.s3]
endpoint = "http://own.example"
region = "own-region"
allow_http = true
`
	env := map[string]string{
		EnvCacheDir: "/from/env", EnvCacheSizeGB: "3.5",
		EnvEndpoint: "https://env.example", EnvBucket: "env-bucket", EnvRegion: "env-region",
		EnvAccessKeyID: "ENVID", EnvSecretAccessKey: "env-secret", EnvAllowHTTP: "0",
	}
	cfg := mustLoad(t, file, env)
	if cfg.Cache.Dir != "/from/env" || cfg.Cache.SizeGB != 3.5 {
		t.Errorf("cache = %+v, want the environment's", cfg.Cache)
	}
	wantGlobal := S3{Endpoint: "https://env.example", Bucket: "env-bucket", Region: "env-region",
		AccessKeyID: "ENVID", SecretAccessKey: "env-secret"}
	if cfg.S3 != wantGlobal {
		t.Errorf("s3 = %#v, want %#v", cfg.S3, wantGlobal)
	}
	if got := cfg.Exports[0]; got.S3 != wantGlobal || got.Store.Bucket != "env-bucket" {
		t.Errorf("export without overrides: store %+v s3 %#v", got.Store, got.S3)
	}
	wantOwn := S3{Endpoint: "http://own.example", Bucket: "own-bucket", Region: "own-region",
		AccessKeyID: "ENVID", SecretAccessKey: "env-secret", AllowHTTP: true}
	if got := cfg.Exports[1].S3; got != wantOwn {
		t.Errorf("export with overrides: %#v, want %#v", got, wantOwn)
	}
}

func TestRelativePaths(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "etc")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "z.toml")
	content := `
[cache]
dir = "../cache"
size_gb = 1
journal_dir = "../journals"
[[exports]]
name = "rel"
path = "/rel"
store = "file://../data/rel"
[[exports]]
name = "dot"
path = "/dot"
store = "file://./here"
[[exports]]
name = "abs"
path = "/abs"
store = "file:///srv/abs"
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Load with a relative path from another working directory.
	t.Chdir(root)
	cfg, err := Load("etc/z.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path {
		t.Errorf("File = %q, want %q", cfg.File, path)
	}
	if want := filepath.Join(root, "cache"); cfg.Cache.Dir != want {
		t.Errorf("cache.dir = %q, want %q", cfg.Cache.Dir, want)
	}
	if want := filepath.Join(root, "journals"); cfg.Cache.JournalDir != want {
		t.Errorf("cache.journal_dir = %q, want %q", cfg.Cache.JournalDir, want)
	}
	for i, want := range []string{filepath.Join(root, "data", "rel"), filepath.Join(sub, "here"), "/srv/abs"} {
		if got := cfg.Exports[i].Store.Dir; got != want {
			t.Errorf("exports[%d] dir = %q, want %q", i, got, want)
		}
	}
	// A relative SLATEDB_CACHE_DIR is relative to the working directory,
	// and made absolute as it is read: the effective config (check-config's
	// output), read back as a file, whose relative paths follow the file's
	// directory, names the same directory. Before, it printed "envcache".
	cfg, err = Load("etc/z.toml", envOf(map[string]string{EnvCacheDir: "./envcache/"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "envcache"); cfg.Cache.Dir != want {
		t.Errorf("cache.dir from env = %q, want %q", cfg.Cache.Dir, want)
	}
	back, err := Load(writeFile(t, cfg.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Cache.Dir != cfg.Cache.Dir {
		t.Errorf("the effective config read back has cache.dir %q, want %q", back.Cache.Dir, cfg.Cache.Dir)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		t.Errorf("a missing file is not a validation error")
	}
}

func TestNoFile(t *testing.T) {
	_, err := Load("", envOf(map[string]string{EnvCacheDir: "/c", EnvCacheSizeGB: "1"}))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	if len(ve.Problems) != 1 || ve.Problems[0].Key != "exports" || ve.Problems[0].Source != sourceNoFile {
		t.Errorf("problems = %+v, want only the missing exports", ve.Problems)
	}
}

// TestStringRoundTrip: the rendered effective configuration loads back to the same Config.
func TestStringRoundTrip(t *testing.T) {
	for _, path := range []string{"../examples/zerofs.toml"} {
		first, err := Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		again := writeFile(t, first.String())
		second, err := Load(again, nil)
		if err != nil {
			t.Fatalf("reloading the rendered config: %v\n%s", err, first)
		}
		second.File = first.File
		if !reflect.DeepEqual(first, second) {
			t.Errorf("round trip differs:\nfirst  %#v\nsecond %#v", first, second)
		}
	}
	cfg := mustLoad(t, validBase+`
[server]
metrics_listen = "127.0.0.1:9100"
[[exports]]
name = "s"
path = "/s"
store = "s3://bkt/p\"q"
size_limit_gb = 1.5
allowed_clients = ["::1"]
root_owner = "65534:100"
root_mode = "1777"
[exports.s3]
endpoint = "https://h.example"
access_key_id = "ID"
secret_access_key = "shh-secret"
`, nil)
	back := mustLoad(t, cfg.String(), nil)
	back.File, back.Cache.Dir = cfg.File, cfg.Cache.Dir
	// The secret is rendered redacted, so it comes back as the redacted text.
	if back.Exports[0].S3.SecretAccessKey.Reveal() != redactedText {
		t.Errorf("rendered secret = %q", back.Exports[0].S3.SecretAccessKey.Reveal())
	}
	back.Exports[0].S3.SecretAccessKey = cfg.Exports[0].S3.SecretAccessKey
	if !reflect.DeepEqual(cfg, back) {
		t.Errorf("round trip differs:\nfirst  %#v\nsecond %#v\nrendered:\n%s", cfg, back, cfg)
	}
}

// FuzzLoad feeds arbitrary file contents through the whole of Load: it must
// never panic, must refuse with a *ValidationError whose every line names the
// file, and what it accepts must render to TOML that loads back the same.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../examples/zerofs.toml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example), validBase + oneExport, validBase, "", "[", "a = 1\na = 2",
		validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bkt/p\"\n[exports.s3]\nendpoint = \"http://h:1\"\nallow_http = true\n",
		validBase + "[lsm]\nflush_interval = \"1s\"\n[server]\nlog_level = \"debug\"\n" + oneExport,
		"[[exports]]\nallowed_clients = [\"::1\", 5]\n",
	} {
		f.Add([]byte(seed))
	}
	const path = "/etc/zerofs/fuzz.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load(path, path, data, nil, loadOptions{})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T %v is not a non-empty *ValidationError", err, err)
			}
			for _, p := range ve.Problems {
				if p.Source != path {
					t.Fatalf("problem %+v does not name the file", p)
				}
			}
			return
		}
		back, err := load(path, path, []byte(cfg.String()), nil, loadOptions{})
		if err != nil {
			t.Fatalf("rendered config does not load: %v\n%s", err, cfg)
		}
		// Secrets render redacted; everything else must match.
		redact := func(c *Config) {
			c.S3.SecretAccessKey = Secret(c.S3.SecretAccessKey.String())
			for i := range c.Exports {
				c.Exports[i].S3.SecretAccessKey = Secret(c.Exports[i].S3.SecretAccessKey.String())
			}
		}
		redact(cfg)
		redact(back)
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip differs:\n%#v\n%#v\nrendered:\n%s", cfg, back, cfg)
		}
	})
}

// TestEncryptionAndCompression: an export's key comes from key_file
// (relative to the config file) or from its ZEROFS_KEY_ variable, which is
// never printed; compression defaults to [lsm]'s and may be overridden.
func TestEncryptionAndCompression(t *testing.T) {
	const pass = "the passphrase of team-b"
	path := writeFileWith(t, validBase+`
[lsm]
compression = "zstd"
[[exports]]
name = "team-a"
path = "/a"
store = "memory://a"
encryption = true
key_file = "keys/a.key"
compression = "none"
[[exports]]
name = "team-b"
path = "/b"
store = "memory://b"
encryption = true
`, map[string]string{"keys/a.key": validKey})
	cfg, err := Load(path, envOf(map[string]string{"ZEROFS_KEY_TEAM_B": pass}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Exports[0], cfg.Exports[1]
	if want := filepath.Join(filepath.Dir(cfg.File), "keys", "a.key"); a.Encryption != (Encryption{Enabled: true, KeyFile: want, PassphraseEnv: "ZEROFS_KEY_TEAM_A"}) {
		t.Errorf("team-a encryption = %+v, want the key file %s", a.Encryption, want)
	}
	if !b.Encryption.Enabled || b.Encryption.Passphrase.Reveal() != pass || b.Encryption.KeyFile != "" {
		t.Errorf("team-b encryption: enabled %v, passphrase loaded %v, key file %q", b.Encryption.Enabled, b.Encryption.Passphrase.Reveal() == pass, b.Encryption.KeyFile)
	}
	if a.Compression != CompressionNone || b.Compression != CompressionZstd {
		t.Errorf("compression a=%s b=%s, want none (its own) and zstd (from [lsm])", a.Compression, b.Compression)
	}
	out := cfg.String()
	if strings.Contains(out, pass) || !strings.Contains(out, "# passphrase from ZEROFS_KEY_TEAM_B") {
		t.Errorf("rendered config shows the passphrase or does not say where it comes from:\n%s", out)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "config", cfg, "export", b, "all", fmt.Sprintf("%v %+v %#v", cfg, b, b))
	if strings.Contains(logged.String(), pass) {
		t.Errorf("the passphrase was logged: %s", logged.String())
	}
	// Loaded back, the rendered config still finds the passphrase in the environment.
	back, err := Load(writeFile(t, out), envOf(map[string]string{"ZEROFS_KEY_TEAM_B": pass}))
	if err != nil {
		t.Fatal(err)
	}
	if back.Exports[1].Encryption != b.Encryption || back.Exports[0].Encryption != a.Encryption {
		t.Errorf("round trip changed the encryption settings")
	}
	// A problem elsewhere never shows the passphrase either.
	_, err = Load(writeFile(t, strings.Replace(out, `squash = "root"`, `squash = "`+pass+`"`, 1)), envOf(map[string]string{"ZEROFS_KEY_TEAM_B": pass}))
	if err == nil || strings.Contains(err.Error(), pass) {
		t.Errorf("error shows the passphrase: %v", err)
	}
}

// TestEncryptionWithLocalDurability: an encrypted export may keep a local
// journal (it is sealed), with a key file or a passphrase, and is strict
// by default like every local export.
func TestEncryptionWithLocalDurability(t *testing.T) {
	cfg, err := Load(writeFileWith(t, validBase+`
[[exports]]
name = "team-a"
path = "/a"
store = "file:///srv/a"
encryption = true
key_file = "a.key"
durability = "local"
[[exports]]
name = "team-b"
path = "/b"
store = "file:///srv/b"
encryption = true
durability = "local"
`, map[string]string{"a.key": validKey}), envOf(map[string]string{"ZEROFS_KEY_TEAM_B": "the passphrase of team-b"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, e := range cfg.Exports {
		if !e.Encryption.Enabled || e.Durability != DurabilityLocal || !e.StrictSync() {
			t.Errorf("%s: encryption %v, durability %s, strict %v; want encrypted, local, strict", e.Name, e.Encryption.Enabled, e.Durability, e.StrictSync())
		}
	}
}

func TestSnapshotDir(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  string
	}{
		{"", ""},
		{`snapshot_dir = ""`, ""},
		{`snapshot_dir = ".snapshots"`, ".snapshots"},
		{`snapshot_dir = ".zfs"`, ".zfs"},
	} {
		cfg := mustLoad(t, validBase+"[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\n"+tc.extra+"\n", nil)
		if got := cfg.Exports[0].SnapshotDir; got != tc.want {
			t.Errorf("%q: snapshot_dir = %q, want %q", tc.extra, got, tc.want)
		}
	}
	for _, bad := range []string{`".."`, `"."`, `"a/b"`, `"` + strings.Repeat("x", 256) + `"`} {
		_, problems := loadProblems(t, validBase+"[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\nsnapshot_dir = "+bad+"\n", nil)
		if _, ok := findProblem(problems, "exports[0].snapshot_dir", ""); !ok || len(problems) != 1 {
			t.Errorf("snapshot_dir = %s: problems %v, want one about exports[0].snapshot_dir", bad, problems)
		}
	}
}

func TestSnapshotSchedule(t *testing.T) {
	for _, tc := range []struct {
		extra string
		every time.Duration
		keep  int
	}{
		{"", 0, 0},
		{`snapshot_every = "1h"`, time.Hour, DefaultSnapshotKeep},
		{"snapshot_every = \"15m\"\nsnapshot_keep = 4", 15 * time.Minute, 4},
	} {
		cfg := mustLoad(t, validBase+"[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\n"+tc.extra+"\n", nil)
		e := cfg.Exports[0]
		if e.SnapshotEvery != tc.every || e.SnapshotKeep != tc.keep {
			t.Errorf("%q: every %s keep %d, want %s %d", tc.extra, e.SnapshotEvery, e.SnapshotKeep, tc.every, tc.keep)
		}
		// What check-config prints loads back the same.
		again := mustLoad(t, cfg.String(), nil)
		if again.Exports[0].SnapshotEvery != tc.every || again.Exports[0].SnapshotKeep != tc.keep {
			t.Errorf("%q: rendered and loaded again: %+v", tc.extra, again.Exports[0])
		}
	}
	for _, tc := range []struct{ extra, key, msg string }{
		{`snapshot_every = "soon"`, "exports[0].snapshot_every", "not a duration"},
		{`snapshot_every = "10ms"`, "exports[0].snapshot_every", "out of range"},
		{"snapshot_every = \"1h\"\nsnapshot_keep = 0", "exports[0].snapshot_keep", "out of range"},
		{`snapshot_keep = 3`, "exports[0].snapshot_keep", "without snapshot_every"},
		{"snapshot_every = \"1h\"\nread_only = true", "exports[0].snapshot_every", "read_only"},
	} {
		text, problems := loadProblems(t, validBase+"[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\n"+tc.extra+"\n", nil)
		if _, ok := findProblem(problems, tc.key, tc.msg); !ok || len(problems) != 1 {
			t.Errorf("%q: want one problem %s: ...%s...; got:\n%s", tc.extra, tc.key, tc.msg, text)
		}
	}
}

func TestReplicaKeys(t *testing.T) {
	base := validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\n"
	for _, tc := range []struct {
		extra    string
		replica  bool
		poll     time.Duration
		writable bool
	}{
		{"", false, 0, true},
		{"replica = true", true, DefaultReplicaPoll, false},
		{"replica = true\nreplica_poll = \"250ms\"", true, 250 * time.Millisecond, false},
		{"read_only = true", false, 0, false},
	} {
		cfg := mustLoad(t, base+tc.extra+"\n", nil)
		e := cfg.Exports[0]
		if e.Replica != tc.replica || e.ReplicaPoll != tc.poll || e.Writable() != tc.writable {
			t.Errorf("%q: replica %v poll %s writable %v", tc.extra, e.Replica, e.ReplicaPoll, e.Writable())
		}
		again := mustLoad(t, cfg.String(), nil)
		if again.Exports[0].Replica != tc.replica || again.Exports[0].ReplicaPoll != tc.poll {
			t.Errorf("%q: rendered and loaded again: %+v", tc.extra, again.Exports[0])
		}
	}
	for _, tc := range []struct{ extra, key, msg string }{
		{`replica_poll = "1s"`, "exports[0].replica_poll", "without replica"},
		{"replica = true\nreplica_poll = \"1ms\"", "exports[0].replica_poll", "out of range"},
		{"replica = true\nsnapshot_every = \"1h\"", "exports[0].snapshot_every", "replica writes nothing"},
		{"replica = true\ndurability = \"local\"", "exports[0].durability", "replica writes nothing"},
	} {
		text, problems := loadProblems(t, base+tc.extra+"\n", nil)
		if _, ok := findProblem(problems, tc.key, tc.msg); !ok || len(problems) != 1 {
			t.Errorf("%q: want one problem %s: ...%s...; got:\n%s", tc.extra, tc.key, tc.msg, text)
		}
	}
}

func TestMemoryBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want int
	}{
		{"defaults, one export", validBase + oneExport, 256 + 64 + 2*256},
		{"smaller caches and memtables", validBase + "memory_mb = 32\nread_ahead_mb = 8\n[lsm]\nmemtable_mb = 16\nmax_unflushed_mb = 64\n" + oneExport, 32 + 8 + 2*64},
		{"large memtables raise the unflushed bound", validBase + "[lsm]\nmemtable_mb = 200\n" + oneExport, 256 + 64 + 2*400},
		{"durability local adds the journal's backlog", validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file:///srv/a\"\ndurability = \"local\"\n", 256 + 64 + 3*256},
		{"a read-only export has no write buffers", validBase + oneExport + "[[exports]]\nname = \"b\"\npath = \"/b\"\nstore = \"memory://b\"\nread_only = true\n", 2*(256+64) + 2*256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustLoad(t, tc.toml, nil).MemoryBoundMB(); got != tc.want {
				t.Errorf("MemoryBoundMB() = %d, want %d", got, tc.want)
			}
		})
	}
}
