// Package config loads the vex TOML configuration, resolves the API key and
// locates the data directory.
//
// The file is ~/.vex/config.toml unless the caller passes another path. Every
// setting has a default, so a missing default file is not an error for the
// CLI. Durations are strings such as "24h" or "90s". Unknown keys are errors
// that name the key and the file, because a misspelt key would otherwise be
// ignored without a word. A file that contains a secret (the API key, a
// gateway token or a Redis password) must not be readable by group or others,
// the rule ssh applies to private keys.
//
// Every error from this package wraps ErrConfig, which the CLI maps to exit
// code 78 (EX_CONFIG).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
)

// ErrConfig is wrapped by every error of this package.
var ErrConfig = errors.New("configuration error")

// More specific errors; each wraps ErrConfig.
var (
	ErrUnknownKey          = fmt.Errorf("%w: unknown key", ErrConfig)
	ErrInvalidValue        = fmt.Errorf("%w: invalid value", ErrConfig)
	ErrInsecurePermissions = fmt.Errorf("%w: config file readable by others", ErrConfig)
	ErrNoAPIKey            = fmt.Errorf("%w: no VirusTotal API key", ErrConfig)
)

// Default values. DefaultBaseURL is the public VirusTotal API v3.
const (
	DefaultBaseURL       = "https://www.virustotal.com/api/v3"
	DefaultTimeout       = 20 * time.Second
	DefaultMaxRetries    = 3
	DefaultRateLimitWait = 20 * time.Second
	DefaultConcurrency   = 4
	DefaultTTL           = 24 * time.Hour
	DefaultNotFoundTTL   = 4 * time.Hour
	DefaultPartialTTL    = time.Hour
	DefaultFormat        = "console"
	DefaultServeAddr     = "127.0.0.1:8080"
	// DefaultServeDrain is how long a stopping gateway keeps serving with
	// /healthz at 503, so a load balancer that probes every few seconds
	// takes it out of rotation before the listener closes.
	DefaultServeDrain = 5 * time.Second

	// DefaultOsqueryTimeout stays well under osquery's 300 s extension
	// call timeout, so a slow lookup ends as an error row, not a dropped
	// extension.
	DefaultOsqueryTimeout = 60 * time.Second
	DefaultOsqueryMaxIOCs = 1000
)

// Tier names for API.Tier.
const (
	TierFree    = "free"
	TierPremium = "premium"
)

// Free-tier limits of the public VirusTotal API.
const (
	FreePerMinute = 4
	FreePerDay    = 500
)

// File names inside the data directory.
const (
	CacheFile  = "cache.db"
	LedgerFile = "ledger.db"
	KBFile     = "kb.db"
)

// Config is the effective configuration: defaults overlaid with the file.
type Config struct {
	API     API
	Cache   Cache
	Verdict verdict.Thresholds
	Output  Output
	STIX    STIX
	Osquery Osquery
	Splunk  Splunk
	Serve   Serve

	// Path is the file this config was loaded from, empty for defaults.
	Path string
}

// API configures the VirusTotal client, the [api] table.
type API struct {
	Key     secret.String
	BaseURL string
	// Tier is TierFree or TierPremium. Free implies 4 requests a minute
	// and 500 a day. Premium quotas differ by contract, so premium
	// requires PerMinute and PerDay to be set explicitly.
	Tier      string
	PerMinute int
	PerDay    int
	Timeout   time.Duration // per HTTP request
	// MaxRetries bounds retries of one request after 429, 5xx and network
	// errors.
	MaxRetries int
	// RateLimitWait is the first wait after a 429 without Retry-After; it
	// grows by the same step with each retry, up to 60 s. VirusTotal counts
	// requests per minute, so the default 20 s reaches the next window
	// within three retries.
	RateLimitWait time.Duration
	// AllowNonRoutable sends private and reserved IP addresses to
	// VirusTotal instead of reporting them without a lookup.
	AllowNonRoutable bool
	Concurrency      int // lookups in flight in one batch
	// CAFile is a PEM file of certificate authorities trusted for
	// base_url on top of the system's, for a vex serve gateway whose
	// certificate comes from an internal CA. Empty means the system's only.
	CAFile string
}

// Cache configures the result cache and the data directory, the [cache]
// table.
type Cache struct {
	TTL         time.Duration
	NotFoundTTL time.Duration
	PartialTTL  time.Duration
	// DataDir contains cache.db, ledger.db and kb.db. It defaults to the
	// directory of the config file, which is ~/.vex for the default file.
	DataDir string
	// Path overrides the cache file; empty means DataDir/cache.db.
	Path string
}

// Output configures the CLI output, the [output] table.
type Output struct {
	Format string // json, rich, console, ndjson or csv
	Color  string // auto, always or never
}

// STIX configures exported bundles, the [stix] table.
type STIX struct {
	// TLP is the TLP 2.0 marking: "" (none), clear, green, amber,
	// amber+strict or red.
	TLP          string
	IdentityName string
}

// Osquery configures the extension, the [osquery] table.
type Osquery struct {
	Timeout time.Duration // deadline of one table call
	MaxIOCs int           // IOCs accepted in one call; the rest become error rows
}

// Splunk configures the search command, the [splunk] table.
type Splunk struct {
	// AllowSelfSignedLoopback accepts a self-signed splunkd certificate,
	// but only when splunkd is on a loopback address.
	AllowSelfSignedLoopback bool
	// KVStore shares the cache through the app's KV store collection when
	// the collection exists (default true). False keeps every search on
	// the local cache, whatever the search's kvstore= argument says.
	KVStore bool
}

// Serve configures the `vex serve` gateway, the [serve] table.
type Serve struct {
	Addr     string
	TLSCert  string
	TLSKey   string
	RedisURL secret.String // may contain a password
	Tokens   []Token
	// Drain is how long the gateway keeps serving after SIGTERM or SIGINT,
	// with /healthz answering 503, before it stops accepting connections.
	Drain time.Duration
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	// Empty leaves /metrics open to anyone who can reach the port.
	MetricsToken secret.String
}

// Token is one gateway client credential.
type Token struct {
	Name          string
	Token         secret.String
	RatePerMinute int // 0 means no per-client limit
}

// ClientRetries returns MaxRetries in the VirusTotal client's terms, where
// 0 means the client's default and a negative value means none. In the
// config file 0 means none.
func (a API) ClientRetries() int {
	if a.MaxRetries == 0 {
		return -1
	}
	return a.MaxRetries
}

// Default returns the built-in configuration. Its data directory is empty;
// use DefaultFor to get one under a home directory.
func Default() *Config {
	return &Config{
		API: API{
			BaseURL:       DefaultBaseURL,
			Tier:          TierFree,
			PerMinute:     FreePerMinute,
			PerDay:        FreePerDay,
			Timeout:       DefaultTimeout,
			MaxRetries:    DefaultMaxRetries,
			RateLimitWait: DefaultRateLimitWait,
			Concurrency:   DefaultConcurrency,
		},
		Cache:   Cache{TTL: DefaultTTL, NotFoundTTL: DefaultNotFoundTTL, PartialTTL: DefaultPartialTTL},
		Verdict: verdict.DefaultThresholds,
		Output:  Output{Format: DefaultFormat, Color: "auto"},
		Osquery: Osquery{Timeout: DefaultOsqueryTimeout, MaxIOCs: DefaultOsqueryMaxIOCs},
		Splunk:  Splunk{KVStore: true},
		Serve:   Serve{Addr: DefaultServeAddr, Drain: DefaultServeDrain},
	}
}

// DefaultFor returns the built-in configuration with the data directory
// ~/.vex under home.
func DefaultFor(home string) *Config {
	c := Default()
	c.Cache.DataDir = DefaultDataDir(home)
	return c
}

// DefaultPath returns the default config file under home.
func DefaultPath(home string) string { return filepath.Join(home, ".vex", "config.toml") }

// DefaultDataDir returns the default data directory under home.
func DefaultDataDir(home string) string { return filepath.Join(home, ".vex") }

// CachePath returns the cache file.
func (c *Config) CachePath() string {
	if c.Cache.Path != "" {
		return c.Cache.Path
	}
	return filepath.Join(c.Cache.DataDir, CacheFile)
}

// DataDirOpen returns a warning when the data directory exists and users
// other than its owner may write to it, and "" otherwise. Such a user can
// replace cached verdicts and edit the knowledge base, so vex warns the way
// it refuses a config file that others can read.
func (c *Config) DataDirOpen() string {
	dir := c.Cache.DataDir
	if dir == "" {
		return ""
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 == 0 {
		return ""
	}
	return fmt.Sprintf("data directory %s has mode %04o: other users can change cached verdicts and the knowledge base; run chmod 700 %s",
		dir, fi.Mode().Perm(), dir)
}

// LedgerPath returns the rate limit ledger file.
func (c *Config) LedgerPath() string { return filepath.Join(c.Cache.DataDir, LedgerFile) }

// KBPath returns the knowledge base file. It is separate from the cache so
// clearing the cache never touches it.
func (c *Config) KBPath() string { return filepath.Join(c.Cache.DataDir, KBFile) }

// Load reads the config file at path over the defaults. A missing file
// returns an error that satisfies errors.Is(err, fs.ErrNotExist); the caller
// decides whether that is fine. Relative paths in the file are resolved
// against the file's directory. Paths starting with ~ are resolved by
// ExpandHome, which the caller runs with the user's home.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read config file %s: %w", ErrConfig, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: read config file %s: %w", ErrConfig, path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: config file %s is a directory", ErrConfig, path)
	}
	// A config file is a few kilobytes; the bound keeps a wrong path (a
	// device, a log) from being read whole.
	const maxSize = 1 << 20
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(limitReader(f, maxSize+1)); err != nil {
		return nil, fmt.Errorf("%w: read config file %s: %w", ErrConfig, path, err)
	}
	if buf.Len() > maxSize {
		return nil, fmt.Errorf("%w: config file %s is larger than %d bytes", ErrConfig, path, maxSize)
	}

	c, err := Parse(buf.Bytes(), path)
	if err != nil {
		return nil, err
	}
	if err := checkPermissions(path, fi.Mode(), c); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes TOML config data over the defaults and validates it. path
// names the source in errors and sets the default data directory.
func Parse(data []byte, path string) (*Config, error) {
	f := newFileConfig(Default())
	md, err := toml.Decode(string(data), f)
	if err != nil {
		return nil, decodeError(path, data, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		names := make([]string, len(undecoded))
		for i, k := range undecoded {
			names[i] = k.String()
		}
		return nil, fmt.Errorf("%w %q in %s; see `vex config --help` for the valid keys", ErrUnknownKey, names[0], path)
	}

	c := f.config()
	c.Path = path
	if path != "" {
		c.resolveRelative(filepath.Dir(path))
	}
	premiumSet := md.IsDefined("api", "per_minute") && md.IsDefined("api", "per_day")
	if err := c.validate(premiumSet); err != nil {
		return nil, fmt.Errorf("%w in %s", err, path)
	}
	return c, nil
}

// decodeError reports a TOML syntax or type error by line. The message of
// the TOML library quotes the offending text, so it is dropped when that line
// may contain a secret.
func decodeError(path string, data []byte, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		// Type mismatches name the key and the types, never the value
		// (BurntSushi/toml v1.6.0, decode.go), so they are safe to show.
		return fmt.Errorf("%w: invalid value in %s: %s", ErrConfig, path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	line := ""
	if lines := strings.Split(string(data), "\n"); pe.Position.Line >= 1 && pe.Position.Line <= len(lines) {
		line = lines[pe.Position.Line-1]
	}
	if mayHoldSecret(line) || mayHoldSecret(pe.LastKey) {
		return fmt.Errorf("%w: invalid TOML in %s at line %d (details hidden because the line may contain a secret)",
			ErrConfig, path, pe.Position.Line)
	}
	return fmt.Errorf("%w: invalid TOML in %s at line %d: %s", ErrConfig, path, pe.Position.Line, pe.Message)
}

func mayHoldSecret(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "key") || strings.Contains(s, "token") || strings.Contains(s, "redis") ||
		strings.Contains(s, "password")
}

// validate checks every value. premiumSet reports whether the file set both
// api.per_minute and api.per_day.
func (c *Config) validate(premiumSet bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidValue, key, fmt.Sprintf(format, args...)))
	}

	switch c.API.Tier {
	case TierFree, TierPremium:
	default:
		bad("api.tier", "%q, want %q or %q", c.API.Tier, TierFree, TierPremium)
	}
	if c.API.Tier == TierPremium && !premiumSet {
		bad("api.tier", "premium quotas differ by contract, so set api.per_minute and api.per_day to the values on your VirusTotal account page")
	}
	if c.API.PerMinute < 1 {
		bad("api.per_minute", "%d, want at least 1", c.API.PerMinute)
	}
	if c.API.PerDay < 1 {
		bad("api.per_day", "%d, want at least 1", c.API.PerDay)
	}
	if err := checkBaseURL(c.API.BaseURL); err != nil {
		bad("api.base_url", "%v", err)
	}
	if c.API.Timeout <= 0 {
		bad("api.timeout", "%v, want a positive duration such as \"20s\"", c.API.Timeout)
	}
	if c.API.MaxRetries < 0 || c.API.MaxRetries > 10 {
		bad("api.max_retries", "%d, want 0 to 10", c.API.MaxRetries)
	}
	if c.API.RateLimitWait <= 0 || c.API.RateLimitWait > time.Minute {
		bad("api.rate_limit_wait", "%v, want a duration from 1ms to 60s such as \"20s\"", c.API.RateLimitWait)
	}
	if c.API.Concurrency < 1 || c.API.Concurrency > 64 {
		bad("api.concurrency", "%d, want 1 to 64", c.API.Concurrency)
	}
	if !c.API.Key.IsZero() {
		if err := checkSecret(c.API.Key.Reveal()); err != nil {
			bad("api.key", "%v", err)
		}
	}

	for key, d := range map[string]time.Duration{"cache.ttl": c.Cache.TTL, "cache.not_found_ttl": c.Cache.NotFoundTTL, "cache.partial_ttl": c.Cache.PartialTTL} {
		if d <= 0 {
			bad(key, "%v, want a positive duration such as \"24h\"", d)
		}
	}

	t := c.Verdict
	if t.Suspicious < 1 {
		bad("verdict.suspicious", "%d, want at least 1", t.Suspicious)
	}
	if t.Malicious < t.Suspicious {
		bad("verdict.malicious", "%d, want at least verdict.suspicious (%d)", t.Malicious, t.Suspicious)
	}
	if t.MinEngines < 0 {
		bad("verdict.min_engines", "%d, want 0 or more", t.MinEngines)
	}

	if !slices.Contains(Formats, c.Output.Format) {
		bad("output.format", "%q, want one of %s", c.Output.Format, strings.Join(Formats, ", "))
	}
	if !slices.Contains([]string{"auto", "always", "never"}, c.Output.Color) {
		bad("output.color", "%q, want auto, always or never", c.Output.Color)
	}
	if !slices.Contains(TLPLevels, c.STIX.TLP) {
		bad("stix.tlp", "%q, want empty or one of %s", c.STIX.TLP, strings.Join(TLPLevels[1:], ", "))
	}

	if c.Osquery.Timeout <= 0 || c.Osquery.Timeout >= 300*time.Second {
		bad("osquery.timeout", "%v, want a positive duration under osquery's 300s extension timeout", c.Osquery.Timeout)
	}
	if c.Osquery.MaxIOCs < 1 {
		bad("osquery.max_iocs", "%d, want at least 1", c.Osquery.MaxIOCs)
	}

	errs = append(errs, c.Serve.validate()...)
	return errors.Join(errs...)
}

func (s Serve) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidValue, key, fmt.Sprintf(format, args...)))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		bad("serve.tls_cert", "tls_cert and tls_key must be set together")
	}
	if s.Drain < 0 || s.Drain > 5*time.Minute {
		bad("serve.drain", "%v, want a duration from \"0s\" to \"5m\" such as \"5s\"", s.Drain)
	}
	if !s.MetricsToken.IsZero() {
		if err := checkSecret(s.MetricsToken.Reveal()); err != nil {
			bad("serve.metrics_token", "%v", err)
		}
	}
	if r := s.RedisURL.Reveal(); r != "" {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			// The URL may contain a password, so it is not quoted.
			bad("serve.redis_url", "want redis://host:port/db or rediss://...")
		}
	}
	names := map[string]bool{}
	for i, t := range s.Tokens {
		key := fmt.Sprintf("serve.tokens[%d]", i)
		switch {
		case t.Name == "":
			bad(key, "name is missing")
		case names[t.Name]:
			bad(key, "name %q is used twice", t.Name)
		}
		names[t.Name] = true
		if t.Token.IsZero() {
			bad(key, "token is missing")
		} else if err := checkSecret(t.Token.Reveal()); err != nil {
			bad(key, "token: %v", err)
		}
		if t.RatePerMinute < 0 {
			bad(key, "rate_per_minute %d, want 0 (no limit) or more", t.RatePerMinute)
		}
	}
	return errs
}

// Formats are the values of output.format.
var Formats = []string{"console", "rich", "json", "ndjson", "csv"}

// TLPLevels are the values of stix.tlp; the empty string means no marking.
var TLPLevels = []string{"", "clear", "green", "amber", "amber+strict", "red"}

// checkBaseURL accepts an absolute http or https URL without credentials or
// query, so the key is only ever sent in the x-apikey header.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if u.User != nil {
		return errors.New("the URL must not contain credentials; set the key with `vex config --set-api-key`")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: remove the query or fragment", u.Redacted())
	}
	return nil
}

// checkSecret rejects whitespace and control characters inside a key, which
// would corrupt the HTTP header, and keys shorter than secret.MinLength. The
// value itself is never quoted.
func checkSecret(s string) error {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return errors.New("contains whitespace or control characters")
		}
	}
	if n := utf8.RuneCountInString(s); n < secret.MinLength {
		return fmt.Errorf("is too short (%d of at least %d characters): a VirusTotal API key is 64 hex characters (copy it whole from your VirusTotal profile) and a vex gateway token at least %d (make one with `openssl rand -hex 32`)",
			n, secret.MinLength, secret.MinLength)
	}
	return nil
}

// resolveRelative makes relative path settings relative to dir, the config
// file's directory, and defaults the data directory to dir. Paths starting
// with ~ are left for ExpandHome.
func (c *Config) resolveRelative(dir string) {
	for _, p := range c.pathSettings() {
		if *p != "" && !strings.HasPrefix(*p, "~") && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Cache.DataDir == "" {
		c.Cache.DataDir = dir
	}
}

// ExpandHome replaces a leading ~ or ~/ in path settings with home.
func (c *Config) ExpandHome(home string) {
	for _, p := range c.pathSettings() {
		switch {
		case *p == "~":
			*p = home
		case strings.HasPrefix(*p, "~/"):
			*p = filepath.Join(home, (*p)[2:])
		}
	}
}

func (c *Config) pathSettings() []*string {
	return []*string{&c.Cache.DataDir, &c.Cache.Path, &c.Serve.TLSCert, &c.Serve.TLSKey, &c.API.CAFile}
}

// ApplyEnv applies environment overrides: VEX_VT_BASE_URL replaces
// api.base_url, which points vex at a gateway or a fake VirusTotal without
// editing the file. getenv is os.Getenv in production.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if u := strings.TrimSpace(getenv("VEX_VT_BASE_URL")); u != "" {
		if err := checkBaseURL(u); err != nil {
			return fmt.Errorf("%w: VEX_VT_BASE_URL: %w", ErrInvalidValue, err)
		}
		c.API.BaseURL = strings.TrimRight(u, "/")
	}
	return nil
}

// checkPermissions rejects a config file that contains a secret and is
// readable or writable by group or others, as ssh does for private keys.
// Windows has no such mode bits, so the check does not apply there.
func checkPermissions(path string, mode os.FileMode, c *Config) error {
	if runtime.GOOS == "windows" || !c.holdsSecret() {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s contains an API key or token but has mode %04o, so other users can read it; run `chmod 600 %s`",
			ErrInsecurePermissions, path, perm, path)
	}
	return nil
}

func (c *Config) holdsSecret() bool {
	if !c.API.Key.IsZero() || len(c.Serve.Tokens) > 0 || !c.Serve.MetricsToken.IsZero() {
		return true
	}
	if u, err := url.Parse(c.Serve.RedisURL.Reveal()); err == nil && u.User != nil {
		_, hasPassword := u.User.Password()
		return hasPassword || u.User.Username() != ""
	}
	return false
}
