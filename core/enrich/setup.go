package enrich

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
)

// OpenOptions add what the config file does not hold.
type OpenOptions struct {
	Logger    *slog.Logger
	Now       func() time.Time
	UserAgent string     // default "vex/dev"
	KB        LocalStore // the caller's knowledge base, or nil
	// NoLedger uses an in-process limiter instead of the shared SQLite
	// ledger. Only for callers that hold the quota elsewhere.
	NoLedger bool
}

// Open builds the engine a vex process uses: the SQLite cache, the ledger
// that shares the rate limit and daily quota with every vex process on the
// data directory, and the VirusTotal client. A cache or ledger that cannot
// be opened degrades with a warning instead of failing the run: the cache to
// no cache, the ledger to a limit held in this process only.
func Open(ctx context.Context, cfg *config.Config, key secret.String, opt OpenOptions) (*Engine, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var closers []func() error
	if warning := cfg.DataDirOpen(); warning != "" {
		log.WarnContext(ctx, warning)
	}

	store, err := cache.OpenOrNop(ctx, cfg.CachePath(), cache.Options{
		TTL: cfg.Cache.TTL, NotFoundTTL: cfg.Cache.NotFoundTTL, PartialTTL: cfg.Cache.PartialTTL,
		Now: opt.Now, Logger: log,
	})
	if err != nil {
		log.WarnContext(ctx, "cache unavailable; results will not be cached", "path", cfg.CachePath(), "error", err)
	}
	closers = append(closers, store.Close)

	limits := ratelimit.Limits{PerMinute: cfg.API.PerMinute, PerDay: cfg.API.PerDay}
	var quota ratelimit.Quota
	if opt.NoLedger {
		quota, err = ratelimit.NewMemory(limits, ratelimit.Options{Now: opt.Now, Logger: log})
	} else {
		quota, err = ratelimit.OpenOrMemory(ctx, cfg.LedgerPath(), limits, ratelimit.Options{Now: opt.Now, Logger: log})
		if err != nil && quota != nil {
			log.WarnContext(ctx, "rate-limit ledger unavailable", "path", cfg.LedgerPath(), "error", err)
			err = nil
		}
	}
	if err != nil {
		closeAll(closers)
		return nil, fmt.Errorf("set up the rate limit: %w", err)
	}
	closers = append(closers, quota.Close)

	hc, err := httpClient(cfg.API.CAFile)
	if err != nil {
		closeAll(closers)
		return nil, err
	}
	client, err := vt.New(vt.Config{
		BaseURL:       cfg.API.BaseURL,
		APIKey:        key,
		HTTPClient:    hc,
		Timeout:       cfg.API.Timeout,
		MaxRetries:    cfg.API.ClientRetries(),
		RateLimitWait: cfg.API.RateLimitWait,
		Limiter:       quota,
		UserAgent:     opt.UserAgent,
		Logger:        log.With("component", "virustotal"),
	})
	if err != nil {
		closeAll(closers)
		return nil, fmt.Errorf("set up the virustotal client: %w", err)
	}

	e := New(Options{
		Enrichers:        []Enricher{&VirusTotal{Client: client, Thresholds: cfg.Verdict, Quota: quota, Now: opt.Now}},
		Cache:            store,
		KB:               opt.KB,
		Thresholds:       cfg.Verdict,
		AllowNonRoutable: cfg.API.AllowNonRoutable,
		Concurrency:      cfg.API.Concurrency,
		Logger:           log,
		Now:              opt.Now,
		Closers:          closers,
	})
	e.quota = quota
	return e, nil
}

// ETA estimates how long n more requests take under the rate limit, for
// progress bars. It is zero when the engine has no limiter.
func (e *Engine) ETA(n int) time.Duration {
	if e.quota == nil {
		return 0
	}
	return e.quota.ETA(n)
}

func closeAll(closers []func() error) {
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// httpClient returns the client for api.base_url: nil (the vt default)
// without a CA file, else one that also trusts the certificate authorities
// in caFile, as a vex serve gateway with a certificate from an internal CA
// needs.
func httpClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read api.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("invalid api.ca_file %s: no PEM certificate found; give the PEM file of the CA that signed the server's certificate", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}
