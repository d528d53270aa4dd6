package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
)

// testKey looks like a VirusTotal key (64 hex digits) so tests can search
// output for it.
const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps the mode of an existing file and applies the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestParseEmptyGivesDefaults(t *testing.T) {
	c, err := Parse(nil, "/home/ana/.vex/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if c.API.BaseURL != DefaultBaseURL || c.API.Tier != TierFree || c.API.PerMinute != 4 || c.API.PerDay != 500 {
		t.Errorf("API defaults = %+v", c.API)
	}
	if c.Cache.TTL != 24*time.Hour || c.Cache.NotFoundTTL != 4*time.Hour || c.Cache.PartialTTL != time.Hour {
		t.Errorf("Cache defaults = %+v", c.Cache)
	}
	if c.Verdict != verdict.DefaultThresholds {
		t.Errorf("Verdict = %+v", c.Verdict)
	}
	if c.Output != want.Output || c.Osquery != want.Osquery || c.Serve.Addr != DefaultServeAddr {
		t.Errorf("defaults differ: %+v %+v %+v", c.Output, c.Osquery, c.Serve)
	}
	if c.Cache.DataDir != "/home/ana/.vex" {
		t.Errorf("DataDir = %q, want the config file's directory", c.Cache.DataDir)
	}
	if got := c.CachePath(); got != "/home/ana/.vex/cache.db" {
		t.Errorf("CachePath = %q", got)
	}
	if got := c.LedgerPath(); got != "/home/ana/.vex/ledger.db" {
		t.Errorf("LedgerPath = %q", got)
	}
	if got := c.KBPath(); got != "/home/ana/.vex/kb.db" {
		t.Errorf("KBPath = %q", got)
	}
}

func TestDefaultFor(t *testing.T) {
	c := DefaultFor("/home/ana")
	if c.Cache.DataDir != "/home/ana/.vex" || c.Path != "" {
		t.Errorf("DefaultFor = DataDir %q Path %q", c.Cache.DataDir, c.Path)
	}
	if DefaultPath("/home/ana") != "/home/ana/.vex/config.toml" {
		t.Errorf("DefaultPath = %q", DefaultPath("/home/ana"))
	}
	if err := c.validate(false); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestParseFullFile(t *testing.T) {
	src := `
[api]
key = "` + testKey + `"
base_url = "http://127.0.0.1:8080/api/v3"
tier = "premium"
per_minute = 1000
per_day = 1000000
timeout = "5s"
max_retries = 2
allow_non_routable = true
concurrency = 16

[cache]
ttl = "12h"
not_found_ttl = "30m"
partial_ttl = "10m"
data_dir = "/var/lib/vex"
path = "/var/cache/vex/cache.db"

[verdict]
malicious = 5
suspicious = 2
min_engines = 20

[output]
format = "ndjson"
color = "never"

[stix]
tlp = "amber+strict"
identity_name = "ACME SOC"

[osquery]
timeout = "30s"
max_iocs = 50

[splunk]
allow_self_signed_loopback = true
kvstore = true

[serve]
addr = "0.0.0.0:8443"
tls_cert = "cert.pem"
tls_key = "key.pem"
redis_url = "redis://:hunter2@127.0.0.1:6379/0"
tokens = [{name = "osquery-fleet", token = "tok-aaaaaaaaaaaaaaaa", rate_per_minute = 60}]
`
	c, err := Parse([]byte(src), "/etc/vex/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Key.Reveal() != testKey || c.API.Tier != TierPremium || c.API.PerMinute != 1000 || c.API.PerDay != 1000000 ||
		c.API.Timeout != 5*time.Second || c.API.MaxRetries != 2 || !c.API.AllowNonRoutable || c.API.Concurrency != 16 ||
		c.API.BaseURL != "http://127.0.0.1:8080/api/v3" {
		t.Errorf("API = %+v", c.API)
	}
	if c.Cache.TTL != 12*time.Hour || c.Cache.NotFoundTTL != 30*time.Minute || c.Cache.PartialTTL != 10*time.Minute ||
		c.Cache.DataDir != "/var/lib/vex" || c.CachePath() != "/var/cache/vex/cache.db" || c.LedgerPath() != "/var/lib/vex/ledger.db" {
		t.Errorf("Cache = %+v", c.Cache)
	}
	if c.Verdict != (verdict.Thresholds{Malicious: 5, Suspicious: 2, MinEngines: 20}) {
		t.Errorf("Verdict = %+v", c.Verdict)
	}
	if c.Output.Format != "ndjson" || c.Output.Color != "never" || c.STIX.TLP != "amber+strict" || c.STIX.IdentityName != "ACME SOC" {
		t.Errorf("Output %+v STIX %+v", c.Output, c.STIX)
	}
	if c.Osquery.Timeout != 30*time.Second || c.Osquery.MaxIOCs != 50 || !c.Splunk.AllowSelfSignedLoopback || !c.Splunk.KVStore {
		t.Errorf("Osquery %+v Splunk %+v", c.Osquery, c.Splunk)
	}
	if len(c.Serve.Tokens) != 1 || c.Serve.Tokens[0].Name != "osquery-fleet" || c.Serve.Tokens[0].Token.Reveal() != "tok-aaaaaaaaaaaaaaaa" ||
		c.Serve.Tokens[0].RatePerMinute != 60 || c.Serve.RedisURL.Reveal() != "redis://:hunter2@127.0.0.1:6379/0" {
		t.Errorf("Serve = %+v", c.Serve)
	}

	c.ExpandHome("/root")
	if c.Serve.TLSCert != "/etc/vex/cert.pem" || c.Serve.TLSKey != "/etc/vex/key.pem" {
		t.Errorf("relative TLS paths not resolved against the config directory: %q %q", c.Serve.TLSCert, c.Serve.TLSKey)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct{ src, key string }{
		{"[api]\nkye = \"x\"\n", "api.kye"},
		{"[apii]\nkey = \"x\"\n", "apii"},
		{"verbose = true\n", "verbose"},
		{"[serve]\ntokens = [{name = \"a\", token = \"b\", rate = 1}]\n", "serve.tokens.rate"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.src), "/etc/vex.toml")
		if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrConfig) {
			t.Errorf("Parse(%q) = %v, want ErrUnknownKey", tc.src, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tc.key+`"`) || !strings.Contains(err.Error(), "/etc/vex.toml") {
			t.Errorf("error %q does not name key %q and the file", err, tc.key)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	cases := []struct {
		name, src, mention string
	}{
		{"tier", "[api]\ntier = \"gold\"", "api.tier"},
		{"premium without limits", "[api]\ntier = \"premium\"", "api.per_minute and api.per_day"},
		{"premium with one limit", "[api]\ntier = \"premium\"\nper_minute = 100", "api.per_minute and api.per_day"},
		{"per_minute zero", "[api]\nper_minute = 0", "api.per_minute"},
		{"per_day negative", "[api]\nper_day = -5", "api.per_day"},
		{"base_url scheme", "[api]\nbase_url = \"ftp://example.com\"", "api.base_url"},
		{"base_url no host", "[api]\nbase_url = \"https://\"", "api.base_url"},
		{"base_url credentials", "[api]\nbase_url = \"https://u:p@example.com\"", "must not contain credentials"},
		{"base_url query", "[api]\nbase_url = \"https://example.com/?apikey=1\"", "query"},
		{"timeout negative", "[api]\ntimeout = \"-1s\"", "api.timeout"},
		{"timeout integer", "[api]\ntimeout = 20", "duration"},
		{"timeout garbage", "[api]\ntimeout = \"soon\"", "duration"},
		{"max_retries", "[api]\nmax_retries = 50", "api.max_retries"},
		{"concurrency", "[api]\nconcurrency = 0", "api.concurrency"},
		{"ttl zero", "[cache]\nttl = \"0s\"", "cache.ttl"},
		{"thresholds order", "[verdict]\nmalicious = 1\nsuspicious = 2", "verdict.malicious"},
		{"suspicious zero", "[verdict]\nsuspicious = 0\nmalicious = 3", "verdict.suspicious"},
		{"format", "[output]\nformat = \"xml\"", "output.format"},
		{"color", "[output]\ncolor = \"sometimes\"", "output.color"},
		{"tlp", "[stix]\ntlp = \"white\"", "stix.tlp"},
		{"osquery timeout", "[osquery]\ntimeout = \"300s\"", "osquery.timeout"},
		{"max_iocs", "[osquery]\nmax_iocs = 0", "osquery.max_iocs"},
		{"tls pair", "[serve]\ntls_cert = \"c.pem\"", "tls_key"},
		{"redis scheme", "[serve]\nredis_url = \"http://127.0.0.1\"", "serve.redis_url"},
		{"token name missing", "[[serve.tokens]]\ntoken = \"abc\"", "name is missing"},
		{"token duplicate", "[[serve.tokens]]\nname = \"a\"\ntoken = \"x\"\n[[serve.tokens]]\nname = \"a\"\ntoken = \"y\"", "used twice"},
		{"token missing", "[[serve.tokens]]\nname = \"a\"", "token is missing"},
		{"wrong type", "[api]\nper_minute = \"four\"", "line 2"},
		{"syntax", "[api\n", "invalid TOML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src+"\n"), "/x/config.toml")
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Parse = %v, want an ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if !strings.Contains(err.Error(), "/x/config.toml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestPremiumWithLimits(t *testing.T) {
	c, err := Parse([]byte("[api]\ntier = \"premium\"\nper_minute = 300\nper_day = 50000\n"), "/x/c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.API.PerMinute != 300 || c.API.PerDay != 50000 {
		t.Errorf("limits = %d/%d", c.API.PerMinute, c.API.PerDay)
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	cases := []string{
		"[api]\nkey = " + testKey + "\n",            // unquoted: a TOML syntax error on the key line
		"[api]\nkey = \"" + testKey + " extra\"\n",  // whitespace inside the key
		"[api]\nkey = \"" + testKey + "\"\nkye = 1", // unknown key next to a valid secret
		"[serve]\nredis_url = \"" + testKey + "\"\n",
		"[[serve.tokens]]\nname = \"a\"\ntoken = \"" + testKey + "\tx\"\n",
		"[api]\nkey = \"\"\"\n" + testKey + "\n",
	}
	for _, src := range cases {
		_, err := Parse([]byte(src), "/x/c.toml")
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", src)
			continue
		}
		if strings.Contains(err.Error(), testKey[:16]) {
			t.Errorf("error for %q contains the secret: %v", src, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrConfig) {
		t.Fatalf("Load(missing) = %v, want fs.ErrNotExist and ErrConfig", err)
	}
}

func TestLoadDirectory(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrConfig) {
		t.Fatalf("Load(directory) = %v", err)
	}
}

func TestLoadPermissions(t *testing.T) {
	withKey := "[api]\nkey = \"" + testKey + "\"\n"
	withToken := "[[serve.tokens]]\nname = \"a\"\ntoken = \"tok-" + testKey[:20] + "\"\n"
	withRedisPassword := "[serve]\nredis_url = \"redis://:pw@127.0.0.1:6379\"\n"
	noSecret := "[output]\nformat = \"json\"\n"
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		refused bool
	}{
		{"key private", withKey, 0o600, false},
		{"key owner read-only", withKey, 0o400, false},
		{"key world-readable", withKey, 0o644, true},
		{"key group-readable", withKey, 0o640, true},
		{"key group-writable", withKey, 0o620, true},
		{"token world-readable", withToken, 0o644, true},
		{"redis password world-readable", withRedisPassword, 0o644, true},
		{"no secret world-readable", noSecret, 0o644, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			writeFile(t, path, tc.content, tc.mode)
			_, err := Load(path)
			if !tc.refused {
				if err != nil {
					t.Fatalf("Load = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, ErrInsecurePermissions) || !errors.Is(err, ErrConfig) {
				t.Fatalf("Load = %v, want ErrInsecurePermissions", err)
			}
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("error %q has no chmod hint", err)
			}
			if strings.Contains(err.Error(), testKey[:16]) || strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

func TestResolveAPIKeyPriority(t *testing.T) {
	fileCfg := Default()
	fileCfg.API.Key = secret.New("file-key-0123456789abcdef")
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == EnvAPIKey {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		name       string
		flag       string
		env        string
		cfg        *Config
		want       string
		wantSource Source
	}{
		{"flag wins", "flag-key-0123456789abcdef", "env-key-0123456789abcdef", fileCfg, "flag-key-0123456789abcdef", SourceFlag},
		{"env over file", "", "env-key-0123456789abcdef", fileCfg, "env-key-0123456789abcdef", SourceEnv},
		{"file last", "", "", fileCfg, "file-key-0123456789abcdef", SourceFile},
		{"whitespace trimmed", "  flag-key-0123456789abcdef\n", "", nil, "flag-key-0123456789abcdef", SourceFlag},
		{"blank flag skipped", "   ", "env-key-0123456789abcdef\n", fileCfg, "env-key-0123456789abcdef", SourceEnv},
		{"nil config", "", "env-key-0123456789abcdef", nil, "env-key-0123456789abcdef", SourceEnv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, src, err := ResolveAPIKey(tc.flag, env(tc.env), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if key.Reveal() != tc.want {
				t.Errorf("key = %q, want %q", key.Reveal(), tc.want)
			}
			if src != tc.wantSource {
				t.Errorf("source = %q, want %q", src, tc.wantSource)
			}
		})
	}
}

func TestResolveAPIKeyMissing(t *testing.T) {
	_, src, err := ResolveAPIKey("", func(string) string { return "" }, Default())
	if !errors.Is(err, ErrNoAPIKey) || !errors.Is(err, ErrConfig) {
		t.Fatalf("ResolveAPIKey = %v, want ErrNoAPIKey", err)
	}
	if src != SourceNone {
		t.Errorf("source = %q", src)
	}
	for _, hint := range []string{"vex config --set-api-key", "VT_API_KEY"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error %q does not mention %q", err, hint)
		}
	}
}

func TestResolveAPIKeyRejectsShortKeys(t *testing.T) {
	for _, key := range []string{"x", "0123456789abcde"} {
		_, _, err := ResolveAPIKey("", func(string) string { return key }, nil)
		if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ResolveAPIKey(%d characters) = %v, want ErrInvalidValue", len(key), err)
			continue
		}
		if !strings.Contains(err.Error(), "64 hex characters") {
			t.Errorf("error %q does not say how long a key is", err)
		}
	}
	if _, _, err := ResolveAPIKey("", func(string) string { return "0123456789abcdef" }, nil); err != nil {
		t.Errorf("ResolveAPIKey(16 characters) = %v, want success", err)
	}
}

func TestLoadRejectsShortSecrets(t *testing.T) {
	for _, src := range []string{
		"[api]\nkey = \"short\"\n",
		"[[serve.tokens]]\nname = \"a\"\ntoken = \"x\"\n",
	} {
		_, err := Parse([]byte(src), "/x/config.toml")
		if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "at least 16 characters") {
			t.Errorf("Parse(%q) = %v, want ErrInvalidValue about the length", src, err)
		}
	}
}

func TestResolveAPIKeyRejectsControlCharacters(t *testing.T) {
	_, _, err := ResolveAPIKey("abc\x1b[31mdef", func(string) string { return "" }, nil)
	if !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("ResolveAPIKey = %v, want ErrInvalidValue", err)
	}
	if strings.Contains(err.Error(), "abc") {
		t.Errorf("error contains the key: %v", err)
	}
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	getenv := func(name string) string {
		if name == "VEX_VT_BASE_URL" {
			return "http://127.0.0.1:9999/api/v3/"
		}
		return ""
	}
	if err := c.ApplyEnv(getenv); err != nil {
		t.Fatal(err)
	}
	if c.API.BaseURL != "http://127.0.0.1:9999/api/v3" {
		t.Errorf("BaseURL = %q", c.API.BaseURL)
	}
	if err := c.ApplyEnv(func(string) string { return "" }); err != nil || c.API.BaseURL != "http://127.0.0.1:9999/api/v3" {
		t.Errorf("unset variable changed BaseURL to %q (err %v)", c.API.BaseURL, err)
	}
	err := c.ApplyEnv(func(string) string { return "file:///etc/passwd" })
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "VEX_VT_BASE_URL") {
		t.Errorf("ApplyEnv(bad URL) = %v", err)
	}
}

func TestPathSettings(t *testing.T) {
	src := "[cache]\ndata_dir = \"~/vexdata\"\npath = \"cache/c.db\"\n[serve]\ntls_cert = \"/abs/cert.pem\"\ntls_key = \"~\"\n"
	c, err := Parse([]byte(src), "/etc/vex/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.ExpandHome("/home/ana")
	if c.Cache.DataDir != "/home/ana/vexdata" {
		t.Errorf("DataDir = %q", c.Cache.DataDir)
	}
	if c.Cache.Path != "/etc/vex/cache/c.db" {
		t.Errorf("Cache.Path = %q", c.Cache.Path)
	}
	if c.Serve.TLSCert != "/abs/cert.pem" || c.Serve.TLSKey != "/home/ana" {
		t.Errorf("TLS paths = %q %q", c.Serve.TLSCert, c.Serve.TLSKey)
	}

	// The default data directory is the config file's directory, once.
	c, err = Parse(nil, "rel/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.ExpandHome("/home/ana")
	if c.Cache.DataDir != "rel" {
		t.Errorf("default DataDir = %q, want rel", c.Cache.DataDir)
	}
}

func TestFormatDuration(t *testing.T) {
	cases := map[time.Duration]string{
		24 * time.Hour:                     "24h",
		90 * time.Minute:                   "1h30m",
		90 * time.Second:                   "1m30s",
		time.Minute:                        "1m",
		20 * time.Second:                   "20s",
		1500 * time.Millisecond:            "1.5s",
		time.Hour + 30*time.Second:         "1h0m30s",
		4*time.Hour + 15*time.Minute:       "4h15m",
		0:                                  "0s",
		2*time.Hour + 500*time.Millisecond: "2h0m0.5s",
	}
	for d, want := range cases {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", time.Duration(d), got, want)
		}
	}
}

func TestExampleFileParses(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Tier != TierPremium || c.API.PerMinute != 300 || c.STIX.TLP != "amber" || c.Cache.DataDir != "testdata" {
		t.Errorf("example config decoded as %+v %+v %+v", c.API, c.STIX, c.Cache)
	}
}

func TestSplunkKVStoreDefaultsOn(t *testing.T) {
	if !Default().Splunk.KVStore {
		t.Error("Default().Splunk.KVStore = false, want true")
	}
	c, err := Parse([]byte("[splunk]\nallow_self_signed_loopback = true\n"), "/tmp/vex/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Splunk.KVStore {
		t.Error("a [splunk] table without kvstore turned the KV store off")
	}
	c, err = Parse([]byte("[splunk]\nkvstore = false\n"), "/tmp/vex/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Splunk.KVStore {
		t.Error("kvstore = false was ignored")
	}
}

func TestClientRetries(t *testing.T) {
	cases := map[int]int{0: -1, 1: 1, 5: 5}
	for in, want := range cases {
		if got := (API{MaxRetries: in}).ClientRetries(); got != want {
			t.Errorf("ClientRetries() for max_retries = %d is %d, want %d", in, got, want)
		}
	}
}

func TestServeDrainAndMetricsToken(t *testing.T) {
	if d := Default().Serve.Drain; d != DefaultServeDrain {
		t.Errorf("default serve.drain = %v, want %v", d, DefaultServeDrain)
	}
	c, err := Parse([]byte("[serve]\ndrain = \"0s\"\nmetrics_token = \"metrics-token-0123456789\"\n"), "/x/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.Drain != 0 {
		t.Errorf("serve.drain = %v, want 0", c.Serve.Drain)
	}
	if c.Serve.MetricsToken.Reveal() != "metrics-token-0123456789" {
		t.Error("serve.metrics_token not read")
	}
	for _, src := range []string{"[serve]\ndrain = \"-1s\"\n", "[serve]\ndrain = \"10m\"\n", "[serve]\nmetrics_token = \"short\"\n"} {
		if _, err := Parse([]byte(src), "/x/config.toml"); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Parse(%q) = %v, want ErrInvalidValue", src, err)
		}
	}
}
