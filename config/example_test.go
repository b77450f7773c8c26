package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfig checks that examples/zerofs.toml loads as-is, with no
// environment, and means what its comments say.
func TestExampleConfig(t *testing.T) {
	cfg, err := Load("../examples/zerofs.toml", nil)
	if err != nil {
		t.Fatalf("examples/zerofs.toml: %v", err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:2049" {
		t.Errorf("listen = %q", cfg.Server.Listen)
	}
	if want := filepath.Join(repo, "data", "cache"); cfg.Cache.Dir != want || cfg.Cache.SizeGB != 1 {
		t.Errorf("cache = %+v, want %s with 1 GB", cfg.Cache, want)
	}
	if len(cfg.Exports) != 2 {
		t.Fatalf("%d exports, want 2", len(cfg.Exports))
	}
	for i, name := range []string{"team-a", "team-b"} {
		e := cfg.Exports[i]
		if e.Name != name || e.Path != "/"+name {
			t.Errorf("exports[%d] = %s at %s", i, e.Name, e.Path)
		}
		if want := (StoreURL{Scheme: SchemeFile, Dir: filepath.Join(repo, "data", name)}); e.Store != want {
			t.Errorf("exports[%d].store = %+v, want %+v", i, e.Store, want)
		}
	}
}

// BenchmarkLoadExample measures loading examples/zerofs.toml: read, parse,
// decode, validate (what a start and every SIGHUP reload cost).
func BenchmarkLoadExample(b *testing.B) {
	for b.Loop() {
		if _, err := Load("../examples/zerofs.toml", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEveryExampleLoads keeps every file under examples/ valid.
func TestEveryExampleLoads(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f, nil); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}

// TestExampleS3ExportWhenUncommented checks that the commented S3 export of
// examples/zerofs.toml is valid once uncommented, with the credentials in the
// environment as its comment says.
func TestExampleS3ExportWhenUncommented(t *testing.T) {
	data, err := os.ReadFile("../examples/zerofs.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "# [[exports]]")
	if start < 0 {
		t.Fatal("the commented S3 export is gone")
	}
	var out strings.Builder
	out.WriteString(text[:start])
	for line := range strings.SplitSeq(text[start:], "\n") {
		line = strings.TrimPrefix(line, "#")
		out.WriteString(strings.TrimPrefix(line, " ") + "\n")
	}
	dir := filepath.Join(t.TempDir(), "examples")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(path, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Its key file, made as the comment says, read as check-config reads
	// it.
	keyFile := filepath.Join(filepath.Dir(dir), "data", "archive.key")
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(validKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, envOf(map[string]string{EnvAccessKeyID: "AKIDEXAMPLE", EnvSecretAccessKey: "example-secret"}), CheckKeys())
	if err != nil {
		t.Fatalf("uncommented example: %v\n%s", err, out.String())
	}
	if len(cfg.Exports) != 3 {
		t.Fatalf("%d exports, want 3", len(cfg.Exports))
	}
	e := cfg.Exports[2]
	if e.Store != (StoreURL{Scheme: SchemeS3, Bucket: "my-bucket", Prefix: "zerofs/archive"}) ||
		e.S3.Endpoint != "http://127.0.0.1:7070" || !e.S3.AllowHTTP || e.S3.AccessKeyID != "AKIDEXAMPLE" ||
		!e.Encryption.Enabled || e.Encryption.KeyFile != filepath.Join(filepath.Dir(dir), "data", "archive.key") {
		t.Errorf("S3 export = %+v", e)
	}
}
