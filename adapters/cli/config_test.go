package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/cache"
)

const cfgTestKey = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

type runResult struct {
	code        int
	stdout      string
	stderr      string
	home        string
	defaultPath string
}

// runVex runs the CLI in-process with a temporary home directory, the given
// environment and stdin, and checks that the test key never reaches output.
func runVexIn(t *testing.T, home string, env map[string]string, stdin string, args ...string) runResult {
	t.Helper()
	if home == "" {
		home = t.TempDir()
	}
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, Env{
		Getenv: func(k string) string { return env[k] },
		Home:   home,
	})
	r := runResult{code: code, stdout: out.String(), stderr: errOut.String(), home: home, defaultPath: filepath.Join(home, ".vex", "config.toml")}
	for name, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if strings.Contains(s, cfgTestKey[:20]) {
			t.Errorf("vex %v printed the API key on %s:\n%s", args, name, s)
		}
	}
	return r
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestConfigSetAPIKeyFromStdin(t *testing.T) {
	r := runVexIn(t, "", nil, cfgTestKey+"\n", "config", "--set-api-key")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if !strings.Contains(r.stderr, "****3210") || !strings.Contains(r.stderr, r.defaultPath) {
		t.Errorf("stderr lacks the masked key or the path:\n%s", r.stderr)
	}
	if got := perm(t, r.defaultPath); got != 0o600 {
		t.Errorf("config mode %04o, want 0600", got)
	}
	if got := perm(t, filepath.Dir(r.defaultPath)); got != 0o700 {
		t.Errorf("config directory mode %04o, want 0700", got)
	}
	data, err := os.ReadFile(r.defaultPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `key = "`+cfgTestKey+`"`) {
		t.Errorf("config file lacks the key:\n%s", data)
	}

	// The stored key is the one --show reports, masked.
	show := runVexIn(t, r.home, nil, "", "config", "--show")
	if show.code != 0 || !strings.Contains(show.stdout, `key = "****3210"`) || !strings.Contains(show.stdout, "config file") {
		t.Errorf("--show after set: exit %d\n%s%s", show.code, show.stdout, show.stderr)
	}
}

func TestConfigSetAPIKeyArgument(t *testing.T) {
	for _, args := range [][]string{
		{"config", "--set-api-key=" + cfgTestKey},
		{"config", "--set-api-key", cfgTestKey},
	} {
		r := runVexIn(t, "", nil, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr:\n%s", args[1], r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "shell history") {
			t.Errorf("%v: no shell history warning:\n%s", args[1], r.stderr)
		}
		data, _ := os.ReadFile(r.defaultPath)
		if !strings.Contains(string(data), cfgTestKey) {
			t.Errorf("%v: key not stored", args[1])
		}
	}
}

func TestConfigSetAPIKeyEmpty(t *testing.T) {
	r := runVexIn(t, "", nil, "\n", "config", "--set-api-key")
	if r.code != ExitUsage {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, ExitUsage, r.stderr)
	}
	if _, err := os.Stat(r.defaultPath); !os.IsNotExist(err) {
		t.Errorf("an empty key created the config file: %v", err)
	}
}

func TestConfigStrayArgument(t *testing.T) {
	r := runVexIn(t, "", nil, "", "config", cfgTestKey)
	if r.code != ExitUsage {
		t.Errorf("exit %d, want %d", r.code, ExitUsage)
	}
}

func TestConfigSetAPIKeyEnvironmentNote(t *testing.T) {
	r := runVexIn(t, "", map[string]string{"VT_API_KEY": "other-key-from-env-000000"}, cfgTestKey, "config", "--set-api-key")
	if r.code != 0 || !strings.Contains(r.stderr, "VT_API_KEY is set") {
		t.Errorf("exit %d, stderr lacks the priority note:\n%s", r.code, r.stderr)
	}
}

func TestConfigPath(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, []string{"config", "--path"}, filepath.Join(home, ".vex", "config.toml")},
		{"VEX_CONFIG", map[string]string{"VEX_CONFIG": "/etc/vex/env.toml"}, []string{"config", "--path"}, "/etc/vex/env.toml"},
		{"flag over env", map[string]string{"VEX_CONFIG": "/etc/vex/env.toml"}, []string{"-c", "/tmp/flag.toml", "config", "--path"}, "/tmp/flag.toml"},
		{"long flag", nil, []string{"config", "--config", "/tmp/long.toml", "--path"}, "/tmp/long.toml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVexIn(t, home, tc.env, "", tc.args...)
			if r.code != 0 || r.stdout != tc.want+"\n" {
				t.Errorf("exit %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, tc.want, r.stderr)
			}
		})
	}
}

func TestConfigShowDefaults(t *testing.T) {
	r := runVexIn(t, "", nil, "", "config")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"built-in defaults", `key = "(not set)"`, `tier = "free"`, "per_minute = 4", "per_day = 500", `format = "console"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestConfigShowKeySources(t *testing.T) {
	home := t.TempDir()
	if r := runVexIn(t, home, nil, cfgTestKey, "config", "--set-api-key"); r.code != 0 {
		t.Fatalf("set: exit %d: %s", r.code, r.stderr)
	}
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		source string
		masked string
	}{
		{"file", nil, []string{"config", "--show"}, "config file", "****3210"},
		{"env", map[string]string{"VT_API_KEY": "envkey-aaaaaaaaaaaa-1111"}, []string{"config", "--show"}, "VT_API_KEY", "****1111"},
		{"flag", map[string]string{"VT_API_KEY": "envkey-aaaaaaaaaaaa-1111"}, []string{"-k", "flagkey-bbbbbbbbbbb-2222", "config", "--show"}, "flag", "****2222"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVexIn(t, home, tc.env, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "comes from: "+tc.source) || !strings.Contains(r.stdout, tc.masked) {
				t.Errorf("show output lacks source %q or %q:\n%s", tc.source, tc.masked, r.stdout)
			}
			for _, leak := range []string{"envkey-aaaa", "flagkey-bbbb"} {
				if strings.Contains(r.stdout+r.stderr, leak) {
					t.Errorf("output contains the key %q", leak)
				}
			}
		})
	}
}

func TestConfigRefusesReadableKeyFile(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".vex", "config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[api]\nkey = \""+cfgTestKey+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runVexIn(t, home, nil, "", "config", "--show")
	if r.code != ExitConfig {
		t.Errorf("exit %d, want %d", r.code, ExitConfig)
	}
	if !strings.Contains(r.stderr, "hint: run: chmod 600 "+path) {
		t.Errorf("stderr lacks the chmod hint:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}

	// --set-api-key rewrites the file with mode 0600, which fixes it.
	if r := runVexIn(t, home, nil, cfgTestKey, "config", "--set-api-key"); r.code != 0 {
		t.Fatalf("set: exit %d: %s", r.code, r.stderr)
	}
	if r := runVexIn(t, home, nil, "", "config", "--show"); r.code != 0 {
		t.Errorf("show after the rewrite: exit %d: %s", r.code, r.stderr)
	}
}

func TestConfigBadFiles(t *testing.T) {
	cases := []struct {
		name, content, mention string
	}{
		{"unknown key", "[api]\ntimeot = \"5s\"\n", `"api.timeot"`},
		{"bad value", "[output]\nformat = \"xml\"\n", "output.format"},
		{"syntax", "[api\n", "invalid TOML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vex.toml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runVexIn(t, "", nil, "", "-c", path, "config", "--show")
			if r.code != ExitConfig {
				t.Errorf("exit %d, want %d", r.code, ExitConfig)
			}
			if !strings.Contains(r.stderr, tc.mention) || !strings.Contains(r.stderr, path) {
				t.Errorf("stderr lacks %q or the path:\n%s", tc.mention, r.stderr)
			}
		})
	}
}

func TestConfigNamedFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"-c", missing, "config", "--show"}},
		{map[string]string{"VEX_CONFIG": missing}, []string{"config", "--show"}},
	} {
		r := runVexIn(t, "", tc.env, "", tc.args...)
		if r.code != ExitConfig || !strings.Contains(r.stderr, missing) {
			t.Errorf("%v: exit %d, stderr:\n%s", tc.args, r.code, r.stderr)
		}
	}
}

func TestConfigSet(t *testing.T) {
	home := t.TempDir()
	r := runVexIn(t, home, nil, "", "config", "--set", "api.tier=premium")
	if r.code != ExitConfig || !strings.Contains(r.stderr, "api.per_minute and api.per_day") {
		t.Errorf("premium without limits: exit %d\n%s", r.code, r.stderr)
	}
	r = runVexIn(t, home, nil, "", "config", "--set", "api.tier=premium", "--set", "api.per_minute=300", "--set", "api.per_day=50000", "--show")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`tier = "premium"`, "per_minute = 300", "per_day = 50000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runVexIn(t, home, nil, "", "config", "--set", "api.key="+cfgTestKey)
	if r.code != ExitConfig || !strings.Contains(r.stderr, "--set-api-key") {
		t.Errorf("--set api.key: exit %d\n%s", r.code, r.stderr)
	}
	r = runVexIn(t, home, nil, "", "config", "--set", "nonsense")
	if r.code != ExitUsage {
		t.Errorf("--set without '=': exit %d, want %d", r.code, ExitUsage)
	}
}

func TestConfigBaseURLFromEnvironment(t *testing.T) {
	r := runVexIn(t, "", map[string]string{"VEX_VT_BASE_URL": "http://127.0.0.1:8089/api/v3"}, "", "config", "--show")
	if r.code != 0 || !strings.Contains(r.stdout, `base_url = "http://127.0.0.1:8089/api/v3"`) {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runVexIn(t, "", map[string]string{"VEX_VT_BASE_URL": "gopher://x"}, "", "config", "--show")
	if r.code != ExitConfig || !strings.Contains(r.stderr, "VEX_VT_BASE_URL") {
		t.Errorf("bad VEX_VT_BASE_URL: exit %d\n%s", r.code, r.stderr)
	}
}

func TestCacheClear(t *testing.T) {
	home := t.TempDir()
	dataDir := filepath.Join(home, ".vex")
	ctx := context.Background()
	store, err := cache.Open(ctx, filepath.Join(dataDir, "cache.db"), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a.example", "b.example", "c.example"} {
		if err := store.Put(ctx, cache.Entry{Key: cache.Key{Mode: "triage", Type: "domain", Value: v}, Status: cache.StatusOK, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	kbPath := filepath.Join(dataDir, "kb.db")
	kbData := []byte("the knowledge base must survive cache-clear")
	if err := os.WriteFile(kbPath, kbData, 0o600); err != nil {
		t.Fatal(err)
	}

	r := runVexIn(t, home, nil, "", "cache-clear")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "removed 3 cache entries from ") {
		t.Errorf("stdout = %q", r.stdout)
	}
	r = runVexIn(t, home, nil, "", "cache-clear")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "removed 0 cache entries") {
		t.Errorf("second run: exit %d, stdout %q", r.code, r.stdout)
	}
	got, err := os.ReadFile(kbPath)
	if err != nil || !bytes.Equal(got, kbData) {
		t.Errorf("cache-clear changed the knowledge base: %q, %v", got, err)
	}
}

func TestCacheClearWithoutFile(t *testing.T) {
	r := runVexIn(t, "", nil, "", "cache-clear")
	if r.code != 0 || !strings.Contains(r.stdout, "removed 0 cache entries (no cache file") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCacheClearCorrupt(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".vex", "cache.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("garbage "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	kbPath := filepath.Join(home, ".vex", "kb.db")
	if err := os.WriteFile(kbPath, []byte("kb"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runVexIn(t, home, nil, "", "cache-clear")
	if r.code != 0 || !strings.Contains(r.stdout, "removed the corrupt cache file") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("corrupt cache still present: %v", err)
	}
	if _, err := os.Stat(kbPath); err != nil {
		t.Errorf("knowledge base removed: %v", err)
	}
}

func TestCacheClearConfiguredPath(t *testing.T) {
	dir := t.TempDir()
	cachePath := filepath.Join(dir, "elsewhere", "c.db")
	cfgPath := filepath.Join(dir, "vex.toml")
	if err := os.WriteFile(cfgPath, []byte("[cache]\npath = \""+cachePath+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := cache.Open(ctx, cachePath, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, cache.Entry{Key: cache.Key{Mode: "triage", Type: "ipv4", Value: "192.0.2.1"}, Status: cache.StatusNotFound}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	r := runVexIn(t, "", nil, "", "-c", cfgPath, "cache-clear")
	if r.code != 0 || r.stdout != "removed 1 cache entry from "+cachePath+"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCacheClearUnusableDataDir(t *testing.T) {
	dir := t.TempDir()
	// A data directory below a regular file cannot be created, whoever
	// runs the test; root ignores permission bits, so chmod cannot be used.
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cachePath := filepath.Join(blocker, "cache.db")
	cfgPath := filepath.Join(dir, "vex.toml")
	if err := os.WriteFile(cfgPath, []byte("[cache]\ndata_dir = \""+blocker+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runVexIn(t, "", nil, "", "-c", cfgPath, "cache-clear")
	if r.code == 0 {
		t.Errorf("exit 0 with an unusable data directory; stdout %q", r.stdout)
	}
	if !strings.Contains(r.stdout+r.stderr, cachePath) {
		t.Errorf("output does not name %s:\n%s%s", cachePath, r.stdout, r.stderr)
	}
}
