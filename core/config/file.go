package config

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/verdict"
)

// fileConfig mirrors the TOML file. It is separate from Config because
// secrets decode into plain strings here and become secret.String there, and
// durations are strings in the file.
type fileConfig struct {
	API     fileAPI            `toml:"api"`
	Cache   fileCache          `toml:"cache"`
	Verdict verdict.Thresholds `toml:"verdict"`
	Output  fileOutput         `toml:"output"`
	STIX    fileSTIX           `toml:"stix"`
	Osquery fileOsquery        `toml:"osquery"`
	Splunk  fileSplunk         `toml:"splunk"`
	Serve   fileServe          `toml:"serve"`
}

type fileAPI struct {
	Key              string   `toml:"key"`
	BaseURL          string   `toml:"base_url"`
	Tier             string   `toml:"tier"`
	PerMinute        int      `toml:"per_minute"`
	PerDay           int      `toml:"per_day"`
	Timeout          Duration `toml:"timeout"`
	MaxRetries       int      `toml:"max_retries"`
	RateLimitWait    Duration `toml:"rate_limit_wait"`
	AllowNonRoutable bool     `toml:"allow_non_routable"`
	Concurrency      int      `toml:"concurrency"`
	CAFile           string   `toml:"ca_file"`
}

type fileCache struct {
	TTL         Duration `toml:"ttl"`
	NotFoundTTL Duration `toml:"not_found_ttl"`
	PartialTTL  Duration `toml:"partial_ttl"`
	DataDir     string   `toml:"data_dir"`
	Path        string   `toml:"path"`
}

type fileOutput struct {
	Format string `toml:"format"`
	Color  string `toml:"color"`
}

type fileSTIX struct {
	TLP          string `toml:"tlp"`
	IdentityName string `toml:"identity_name"`
}

type fileOsquery struct {
	Timeout Duration `toml:"timeout"`
	MaxIOCs int      `toml:"max_iocs"`
}

type fileSplunk struct {
	AllowSelfSignedLoopback bool `toml:"allow_self_signed_loopback"`
	KVStore                 bool `toml:"kvstore"`
}

type fileServe struct {
	Addr         string      `toml:"addr"`
	TLSCert      string      `toml:"tls_cert"`
	TLSKey       string      `toml:"tls_key"`
	RedisURL     string      `toml:"redis_url"`
	Tokens       []fileToken `toml:"tokens"`
	Drain        Duration    `toml:"drain"`
	MetricsToken string      `toml:"metrics_token"`
}

type fileToken struct {
	Name          string `toml:"name"`
	Token         string `toml:"token"`
	RatePerMinute int    `toml:"rate_per_minute"`
}

// Duration is a time.Duration written as a Go duration string ("24h", "90s")
// in TOML. A bare integer is rejected, because TOML readers would have to
// guess its unit.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q, want a value such as \"90s\", \"20m\" or \"24h\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go syntax without zero minutes and
// seconds, so 24 hours is "24h" rather than "24h0m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(time.Duration(d))), nil }

// FormatDuration writes d as time.Duration.String does, minus trailing zero
// units: "24h", "1h30m", "90s" become "24h", "1h30m", "1m30s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func newFileConfig(c *Config) *fileConfig {
	f := &fileConfig{
		API: fileAPI{
			Key:              c.API.Key.Reveal(),
			BaseURL:          c.API.BaseURL,
			Tier:             c.API.Tier,
			PerMinute:        c.API.PerMinute,
			PerDay:           c.API.PerDay,
			Timeout:          Duration(c.API.Timeout),
			MaxRetries:       c.API.MaxRetries,
			RateLimitWait:    Duration(c.API.RateLimitWait),
			AllowNonRoutable: c.API.AllowNonRoutable,
			Concurrency:      c.API.Concurrency,
			CAFile:           c.API.CAFile,
		},
		Cache: fileCache{
			TTL:         Duration(c.Cache.TTL),
			NotFoundTTL: Duration(c.Cache.NotFoundTTL),
			PartialTTL:  Duration(c.Cache.PartialTTL),
			DataDir:     c.Cache.DataDir,
			Path:        c.Cache.Path,
		},
		Verdict: c.Verdict,
		Output:  fileOutput(c.Output),
		STIX:    fileSTIX(c.STIX),
		Osquery: fileOsquery{Timeout: Duration(c.Osquery.Timeout), MaxIOCs: c.Osquery.MaxIOCs},
		Splunk:  fileSplunk(c.Splunk),
		Serve: fileServe{
			Addr:         c.Serve.Addr,
			TLSCert:      c.Serve.TLSCert,
			TLSKey:       c.Serve.TLSKey,
			RedisURL:     c.Serve.RedisURL.Reveal(),
			Drain:        Duration(c.Serve.Drain),
			MetricsToken: c.Serve.MetricsToken.Reveal(),
		},
	}
	for _, t := range c.Serve.Tokens {
		f.Serve.Tokens = append(f.Serve.Tokens, fileToken{Name: t.Name, Token: t.Token.Reveal(), RatePerMinute: t.RatePerMinute})
	}
	return f
}

func (f *fileConfig) config() *Config {
	c := &Config{
		API: API{
			Key:              secret.New(f.API.Key),
			BaseURL:          f.API.BaseURL,
			Tier:             f.API.Tier,
			PerMinute:        f.API.PerMinute,
			PerDay:           f.API.PerDay,
			Timeout:          time.Duration(f.API.Timeout),
			MaxRetries:       f.API.MaxRetries,
			RateLimitWait:    time.Duration(f.API.RateLimitWait),
			AllowNonRoutable: f.API.AllowNonRoutable,
			Concurrency:      f.API.Concurrency,
			CAFile:           f.API.CAFile,
		},
		Cache: Cache{
			TTL:         time.Duration(f.Cache.TTL),
			NotFoundTTL: time.Duration(f.Cache.NotFoundTTL),
			PartialTTL:  time.Duration(f.Cache.PartialTTL),
			DataDir:     f.Cache.DataDir,
			Path:        f.Cache.Path,
		},
		Verdict: f.Verdict,
		Output:  Output(f.Output),
		STIX:    STIX(f.STIX),
		Osquery: Osquery{Timeout: time.Duration(f.Osquery.Timeout), MaxIOCs: f.Osquery.MaxIOCs},
		Splunk:  Splunk(f.Splunk),
		Serve: Serve{
			Addr:         f.Serve.Addr,
			TLSCert:      f.Serve.TLSCert,
			TLSKey:       f.Serve.TLSKey,
			RedisURL:     secret.New(f.Serve.RedisURL),
			Drain:        time.Duration(f.Serve.Drain),
			MetricsToken: secret.New(f.Serve.MetricsToken),
		},
	}
	for _, t := range f.Serve.Tokens {
		c.Serve.Tokens = append(c.Serve.Tokens, Token{Name: t.Name, Token: secret.New(t.Token), RatePerMinute: t.RatePerMinute})
	}
	return c
}

func limitReader(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }
