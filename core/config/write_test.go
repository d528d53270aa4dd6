package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/secret"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSetAPIKeyNewFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".vex")
	path := filepath.Join(dir, "config.toml")
	if err := SetAPIKey(path, secret.New(testKey+"\n")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %04o, want 0700", got)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("file mode %04o, want 0600", got)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != testKey {
		t.Errorf("stored key = %q", c.API.Key.Reveal())
	}
	assertNoTempFiles(t, dir)
}

func TestSetAPIKeyKeepsOtherSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	original := `# my vex settings
[output]
format = "json" # machines read this

[api]
# the old key, rotated in March
key = "oldkey"
timeout = "30s"

# thresholds tuned for our fleet
[verdict]
malicious = 5
`
	writeFile(t, path, original, 0o644)
	if err := SetAPIKey(path, secret.New(testKey)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, keep := range []string{"# my vex settings", `format = "json" # machines read this`, "# the old key, rotated in March", `timeout = "30s"`, "# thresholds tuned for our fleet", "malicious = 5"} {
		if !strings.Contains(text, keep) {
			t.Errorf("line %q lost:\n%s", keep, text)
		}
	}
	if strings.Contains(text, "oldkey") {
		t.Errorf("old key still present:\n%s", text)
	}
	if n := strings.Count(text, "key = "); n != 1 {
		t.Errorf("%d key lines, want 1:\n%s", n, text)
	}
	// The rewrite tightens a file that was world-readable.
	if got := mode(t, path); got != 0o600 {
		t.Errorf("file mode %04o, want 0600", got)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != testKey || c.Output.Format != "json" || c.Verdict.Malicious != 5 {
		t.Errorf("reloaded config: key ok=%v format=%q malicious=%d", c.API.Key.Reveal() == testKey, c.Output.Format, c.Verdict.Malicious)
	}
}

func TestSetAPIKeyAddsSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, path, "[output]\nformat = \"csv\"\n\n[api]\ntimeout = \"9s\"\n\n# trailing comment for verdict\n[verdict]\nmalicious = 4\n", 0o600)
	if err := SetAPIKey(path, secret.New(testKey)); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != testKey || c.API.Timeout.String() != "9s" || c.Verdict.Malicious != 4 {
		t.Errorf("reloaded: %+v %+v", c.API.Timeout, c.Verdict)
	}
	data, _ := os.ReadFile(path)
	if idx := strings.Index(string(data), "key = "); idx > strings.Index(string(data), "# trailing comment") {
		t.Errorf("key inserted after the next section's comment:\n%s", data)
	}
}

func TestSetAPIKeyRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	for _, bad := range []string{"", "  \n", "abc def", "abc\x00def"} {
		err := SetAPIKey(path, secret.New(bad))
		if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("SetAPIKey(%q) = %v, want ErrInvalidValue", bad, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected key created the file: %v", err)
	}
}

func TestSetAPIKeyQuotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	key := `ab"c\d-0123456789abcdef`
	if err := SetAPIKey(path, secret.New(key)); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != key {
		t.Errorf("key = %q, want %q", c.API.Key.Reveal(), key)
	}
}

func TestSetAPIKeyThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.toml")
	writeFile(t, target, "[output]\nformat = \"json\"\n", 0o600)
	link := filepath.Join(dir, "config.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := SetAPIKey(link, secret.New(testKey)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	c, err := Load(target)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != testKey {
		t.Error("key not written to the symlink target")
	}
}

func TestSetAPIKeyUnusualLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	original := "api = { timeout = \"5s\" }\n"
	writeFile(t, path, original, 0o600)
	err := SetAPIKey(path, secret.New(testKey))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("SetAPIKey on an inline table = %v, want an edit-by-hand error", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != original {
		t.Errorf("file changed after a failed update:\n%s", data)
	}
}

func TestSetAPIKeyReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores directory permissions")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := SetAPIKey(filepath.Join(dir, "config.toml"), secret.New(testKey))
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("SetAPIKey in a read-only directory = %v", err)
	}
	if strings.Contains(err.Error(), testKey[:16]) {
		t.Errorf("error contains the key: %v", err)
	}
}

func TestSetValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, path, "# keep me\n[api]\nkey = \""+testKey+"\"\n", 0o600)
	settings := []Setting{
		{"api.tier", "premium"},
		{"api.per_minute", "300"},
		{"api.per_day", "50000"},
		{"api.allow_non_routable", "true"},
		{"cache.ttl", "12h"},
		{"output.format", "ndjson"},
		{"stix.tlp", "amber+strict"},
	}
	if err := SetValues(path, settings); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Tier != "premium" || c.API.PerMinute != 300 || c.API.PerDay != 50000 || !c.API.AllowNonRoutable ||
		c.Cache.TTL.String() != "12h0m0s" || c.Output.Format != "ndjson" || c.STIX.TLP != "amber+strict" || c.API.Key.Reveal() != testKey {
		t.Errorf("after SetValues: %+v %+v %+v %+v", c.API.Tier, c.Cache, c.Output, c.STIX)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# keep me\n") {
		t.Errorf("comment lost:\n%s", data)
	}
}

func TestSetValuesRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	original := "[api]\ntimeout = \"5s\"\n"
	writeFile(t, path, original, 0o600)
	cases := []struct {
		setting Setting
		want    error
		mention string
	}{
		{Setting{"api.key", testKey}, ErrInvalidValue, "--set-api-key"},
		{Setting{"serve.redis_url", "redis://:pw@h"}, ErrInvalidValue, "secret"},
		{Setting{"serve.tokens", "x"}, ErrInvalidValue, "secret"},
		{Setting{"api.color", "x"}, ErrUnknownKey, "valid keys"},
		{Setting{"tier", "free"}, ErrUnknownKey, "section.key"},
		{Setting{"api.per_minute", "four"}, ErrInvalidValue, "whole number"},
		{Setting{"api.allow_non_routable", "yes please"}, ErrInvalidValue, "true or false"},
		{Setting{"api.timeout", "soon"}, ErrInvalidValue, "duration"},
		{Setting{"api.tier", "premium"}, ErrInvalidValue, "api.per_minute and api.per_day"},
		{Setting{"output.format", "xml"}, ErrInvalidValue, "output.format"},
	}
	for _, tc := range cases {
		err := SetValues(path, []Setting{tc.setting})
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrConfig) {
			t.Errorf("SetValues(%v) = %v, want %v", tc.setting, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("SetValues(%v) error %q does not mention %q", tc.setting, err, tc.mention)
		}
		if strings.Contains(err.Error(), testKey[:16]) {
			t.Errorf("error contains the key: %v", err)
		}
	}
	data, _ := os.ReadFile(path)
	if string(data) != original {
		t.Errorf("rejected settings changed the file:\n%s", data)
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestParseSetting(t *testing.T) {
	s, err := ParseSetting(" api.tier = premium ")
	if err != nil || s.Key != "api.tier" || s.Value != "premium" {
		t.Errorf("ParseSetting = %+v, %v", s, err)
	}
	s, err = ParseSetting("stix.identity_name=")
	if err != nil || s.Key != "stix.identity_name" || s.Value != "" {
		t.Errorf("ParseSetting(empty value) = %+v, %v", s, err)
	}
	for _, bad := range []string{"api.tier", "=x", ""} {
		if _, err := ParseSetting(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseSetting(%q) = %v", bad, err)
		}
	}
}

func TestSettableKeysCoverFile(t *testing.T) {
	keys := SettableKeys()
	for _, want := range []string{"api.tier", "api.timeout", "cache.ttl", "verdict.min_engines", "output.format", "stix.tlp", "osquery.max_iocs", "splunk.kvstore", "serve.addr"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("SettableKeys lacks %q", want)
		}
	}
	for _, k := range keys {
		if k == "api.key" || k == "serve.redis_url" || k == "serve.metrics_token" || strings.HasPrefix(k, "serve.tokens") {
			t.Errorf("SettableKeys offers the secret %q", k)
		}
	}
}

func TestShowMasksSecrets(t *testing.T) {
	src := `[api]
key = "` + testKey + `"
[serve]
redis_url = "redis://default:hunter2secret@127.0.0.1:6379/0"
metrics_token = "metrics-0000000000000000-8888"
[[serve.tokens]]
name = "fleet"
token = "tok-0000000000000000-9999"
`
	c, err := Parse([]byte(src), "/x/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	out := Show(c)
	for _, leak := range []string{testKey[:60], "hunter2secret", "tok-0000000000000000", "metrics-0000000000000000"} {
		if strings.Contains(out, leak) {
			t.Errorf("Show output contains the secret %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{`key = "****cdef"`, `token = "****9999"`, `metrics_token = "****8888"`, "127.0.0.1:6379", `ttl = "24h"`, "/x/config.toml", `name = "fleet"`} {
		if !strings.Contains(out, want) {
			t.Errorf("Show output lacks %q:\n%s", want, out)
		}
	}
	// A masked secret is too short to load, so the check puts a long
	// placeholder in its place.
	if _, err := Parse([]byte(strings.ReplaceAll(out, "****", "placeholder-0000")), "/x/shown.toml"); err != nil {
		t.Errorf("Show output does not parse back as a config: %v", err)
	}

	unset := Show(Default())
	if !strings.Contains(unset, `key = "(not set)"`) {
		t.Errorf("Show without a key:\n%s", unset)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[api]\nkey = \"" + testKey + "\"\ntimeout = \"20s\"\n"))
	f.Add([]byte("[cache]\nttl = \"24h\"\n[[serve.tokens]]\nname = \"a\"\ntoken = \"b\"\n"))
	f.Add([]byte("[api\nkey = " + testKey))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/fuzz/config.toml")
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		out := Show(c)
		if k := c.API.Key.Reveal(); len(k) >= 8 && strings.Contains(out, k) {
			t.Fatalf("Show output contains the key")
		}
	})
}

// TestSetValuesEndsWithNewline checks that a file vex writes ends with a
// newline, also when the file it edited had none (found in the final
// README pass).
func TestSetValuesEndsWithNewline(t *testing.T) {
	for _, before := range []string{"", "[api]\ntier = \"free\"", "[cache]\nttl = \"1h\""} {
		path := filepath.Join(t.TempDir(), "config.toml")
		writeFile(t, path, before, 0o600)
		if err := SetValues(path, []Setting{{"api.tier", "free"}}); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if !strings.HasSuffix(string(data), "\n") {
			t.Errorf("from %q: file %q has no final newline", before, data)
		}
	}
}
