package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vex-ioc/vex/adapters/gateway/redisstate"
	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
)

// OpenOptions add what the config file does not hold.
type OpenOptions struct {
	// Replicas is how many replicas share the deployment; while Redis is
	// unreachable each allows itself 1/Replicas of the limits.
	Replicas   int
	UserAgent  string
	HTTPClient *http.Client
	Registry   *prometheus.Registry
	Logger     *slog.Logger
	// Flight tunes the cross-replica fetch lock; zero values take the
	// redisstate defaults.
	Flight redisstate.FlightOptions
	// Redis tunes the Redis connection (key prefix, pause after a
	// failure).
	Redis redisstate.Options
	// MaxQueueWait is Options.MaxQueueWait; zero takes the default.
	MaxQueueWait time.Duration
}

// Open builds the gateway from cfg: the [serve] tokens, the [api] upstream
// settings and limits, the [cache] TTLs, and the state in Redis when
// serve.redis_url is set or in the SQLite cache and ledger of the data
// directory otherwise. key is the VirusTotal key.
func Open(ctx context.Context, cfg *config.Config, key secret.String, opt OpenOptions) (*Gateway, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clients := make([]Client, len(cfg.Serve.Tokens))
	for i, t := range cfg.Serve.Tokens {
		clients[i] = Client{Name: t.Name, Token: t.Token, PerMinute: t.RatePerMinute}
	}
	// Check the tokens before any state is opened, so a config the gateway
	// rejects leaves no cache or ledger files behind. api.key counts even
	// when VT_API_KEY overrides it, because it is a VirusTotal key too.
	if _, err := newTokens(clients, key, cfg.API.Key); err != nil {
		return nil, err
	}
	limits := ratelimit.Limits{PerMinute: cfg.API.PerMinute, PerDay: cfg.API.PerDay}
	cacheOpts := cache.Options{TTL: cfg.Cache.TTL, NotFoundTTL: cfg.Cache.NotFoundTTL, PartialTTL: cfg.Cache.PartialTTL, Logger: log}

	opts := Options{
		UpstreamURL: cfg.API.BaseURL,
		APIKey:      key,
		HTTPClient:  opt.HTTPClient,
		Timeout:     cfg.API.Timeout,
		MaxRetries:  cfg.API.ClientRetries(),
		// Clients wait out a 429 themselves, with their own
		// rate_limit_wait; the gateway retries only briefly, then passes
		// the 429 on rather than hold the request past its deadline.
		RateLimitWait:    upstreamRateLimitWait,
		UserAgent:        opt.UserAgent,
		Clients:          clients,
		ServeStale:       true,
		AllowNonRoutable: cfg.API.AllowNonRoutable,
		MaxQueueWait:     opt.MaxQueueWait,
		Registry:         opt.Registry,
		MetricsToken:     cfg.Serve.MetricsToken,
		Logger:           log,
	}
	closeAll := func() {
		for i := len(opts.Closers) - 1; i >= 0; i-- {
			_ = opts.Closers[i]()
		}
	}

	if !cfg.Serve.RedisURL.IsZero() {
		ropts := opt.Redis
		if ropts.Logger == nil {
			ropts.Logger = log.With("component", "redis")
		}
		conn, err := redisstate.Dial(ctx, cfg.Serve.RedisURL, ropts)
		if err != nil {
			return nil, err
		}
		opts.Closers = append(opts.Closers, conn.Close)
		quota, err := redisstate.NewQuota(conn, limits, redisstate.QuotaOptions{Replicas: opt.Replicas})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("set up the shared rate limit: %w", err)
		}
		flight := redisstate.NewFlight(conn, opt.Flight)
		opts.Closers = append(opts.Closers, flight.Close)
		opts.Quota = quota
		opts.Cache = redisstate.NewCache(conn, cacheOpts)
		opts.Flight = flight
		opts.ClientLimiter = redisstate.NewClients(conn, NewMemoryClients(nil))
		opts.Health = map[string]func(context.Context) error{"redis": conn.Ping}
		log.Info("shared state in redis", "redis", conn.Addr(), "replicas", max(opt.Replicas, 1))
	} else {
		store, err := cache.OpenOrNop(ctx, cfg.CachePath(), cacheOpts)
		if err != nil {
			if store == nil {
				return nil, err
			}
			log.Warn("cache unavailable; every miss goes upstream", "path", cfg.CachePath(), "error", err)
		}
		opts.Closers = append(opts.Closers, store.Close)
		quota, err := ratelimit.OpenOrMemory(ctx, cfg.LedgerPath(), limits, ratelimit.Options{Logger: log})
		if err != nil {
			if quota == nil {
				closeAll()
				return nil, fmt.Errorf("set up the rate limit: %w", err)
			}
			log.Warn("rate-limit ledger unavailable; the limit applies to this process only", "path", cfg.LedgerPath(), "error", err)
		}
		opts.Closers = append(opts.Closers, quota.Close)
		opts.Quota = quota
		opts.Cache = store
		log.Info("local state in sqlite", "cache", cfg.CachePath(), "ledger", cfg.LedgerPath())
	}

	g, err := New(opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	return g, nil
}

// upstreamRateLimitWait is the gateway's first wait after an upstream 429
// without Retry-After.
const upstreamRateLimitWait = time.Second
