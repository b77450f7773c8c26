package config

import (
	"path/filepath"
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
