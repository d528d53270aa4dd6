// Package gateway is `vex serve`: an HTTP service that serves the part of
// the VirusTotal API v3 that vex uses (object reports, the relationships and
// sandbox documents of investigate) in VirusTotal's JSON shapes and error
// bodies, so every vex client points api.base_url at it and nothing else
// changes.
//
// The gateway holds the only VirusTotal key; clients present gateway tokens
// in x-apikey. A request is served from the cache when it can be, and
// otherwise goes upstream under one rate limit and daily quota for the
// whole deployment. Concurrent requests for one object share one upstream
// request: within a replica through an in-process call group, across
// replicas through a SharedFlight lock. The state lives in Redis
// (package redisstate) when replicas share it, or in the local SQLite cache
// and ledger for a single instance.
package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
)

// SharedFlight is a fetch lock per key shared by the replicas of a
// deployment; redisstate.Flight implements it.
type SharedFlight interface {
	// TryLock takes the lock for key. When held, the caller fetches and
	// then calls unlock once with a note for the waiters: nil when the
	// result is in the cache, else the response itself. An error means the
	// lock cannot be used and none is held.
	TryLock(ctx context.Context, key string) (unlock func(note []byte), held bool, err error)
	// Wait blocks until the lock for key is free and returns the note its
	// last holder left, or nil.
	Wait(ctx context.Context, key string) (note []byte, err error)
}

// Defaults of Options.
const (
	DefaultMaxQueueWait    = 10 * time.Second
	DefaultQueueRetryAfter = 5 * time.Second
	DefaultFetchTimeout    = 2 * time.Minute
	// DefaultAuthFailureHold is how long the gateway answers 502
	// UpstreamAuthenticationError by itself after VirusTotal rejected its
	// key. A minute turns a fleet's lookup wave into one rejected request
	// per replica a minute, and a key VirusTotal accepts again (an account
	// re-enabled) works again without a restart.
	DefaultAuthFailureHold = time.Minute
)

// Options configure a Gateway. UpstreamURL, APIKey, Quota and Clients are
// required.
type Options struct {
	// UpstreamURL is the VirusTotal API root, vt.DefaultBaseURL in
	// production.
	UpstreamURL string
	// APIKey is the VirusTotal key. It is sent upstream only, in the
	// x-apikey header.
	APIKey secret.String
	// HTTPClient sends the upstream requests; nil means a new one.
	HTTPClient *http.Client
	// Timeout bounds one upstream attempt (vt default 20 s).
	Timeout time.Duration
	// MaxRetries bounds upstream retries after 429, 5xx and network errors
	// (vt default 3; negative means none).
	MaxRetries int
	// RateLimitWait is the first wait after an upstream 429 without
	// Retry-After (vt default 20 s).
	RateLimitWait time.Duration
	UserAgent     string

	// Quota is the deployment's VirusTotal rate limit and daily quota:
	// redisstate.Quota, or a ratelimit.Ledger for a single instance.
	Quota ratelimit.Quota
	// Cache stores the responses; nil means no cache.
	Cache cache.Store
	// Flight shares fetches across replicas; nil means this replica
	// de-duplicates only its own requests.
	Flight SharedFlight

	// Clients are the token holders allowed in.
	Clients []Client
	// ClientLimiter applies Client.PerMinute; nil means a MemoryClients.
	ClientLimiter ClientLimiter

	// MaxQueueWait is how long a miss waits for the rate limit before the
	// client gets a 429 with Retry-After QueueRetryAfter. Keep it below
	// the clients' api.timeout.
	MaxQueueWait    time.Duration
	QueueRetryAfter time.Duration
	// FetchTimeout bounds one shared upstream fetch, lock waits included.
	FetchTimeout time.Duration
	// ServeStale responds with an expired cache entry, marked
	// X-Vex-Cache: stale, when the upstream request fails.
	ServeStale bool
	// AuthFailureHold is how long an upstream 401 is remembered; zero
	// takes DefaultAuthFailureHold.
	AuthFailureHold time.Duration
	// Now is the clock of AuthFailureHold; nil means time.Now.
	Now func() time.Time

	// AllowNonRoutable sends private, loopback and reserved IP addresses,
	// and URLs on them, to VirusTotal. When false (api.allow_non_routable,
	// the default) the gateway responds 400 BadRequestError itself, so no
	// token holder can leak internal addressing or spend quota on it.
	AllowNonRoutable bool

	// Health lists checks reported by /healthz, such as "redis". A failed
	// check marks the gateway degraded but still serving.
	Health map[string]func(ctx context.Context) error
	// Registry receives the metrics served on /metrics; nil means a new
	// registry for this Gateway.
	Registry *prometheus.Registry
	// MetricsToken, when set, is the bearer token GET /metrics requires
	// (Prometheus: authorization.credentials in the scrape config). The
	// metrics name every client, so a deployment whose port is reachable
	// beyond its monitoring should set one.
	MetricsToken secret.String
	// Logger receives access logs and errors (default: discard).
	Logger *slog.Logger
	// Closers run, last first, when the Gateway is closed.
	Closers []func() error
}

// Gateway is the HTTP handler of `vex serve`. It is safe for concurrent use.
type Gateway struct {
	opts     Options
	client   *vt.Client
	quota    ratelimit.Quota
	cache    cache.Store
	flight   SharedFlight
	tokens   *tokens
	limiter  ClientLimiter
	metrics  *metrics
	log      *slog.Logger
	mux      *http.ServeMux
	group    callGroup
	draining atomic.Bool
	// authFailedUntil is the Unix time in nanoseconds until which
	// VirusTotal's rejection of the key answers upstream requests.
	authFailedUntil atomic.Int64

	// base is the context of upstream fetches, which outlive the request
	// that started them so that their result reaches the cache.
	base    context.Context
	cancel  context.CancelFunc
	fetches sync.WaitGroup
	// closeMu orders fetches.Add against Close's fetches.Wait, so that a
	// request arriving during Close cannot start a fetch Close misses.
	closeMu sync.Mutex
	closed  bool
}

// New checks opts and returns a Gateway.
func New(opts Options) (*Gateway, error) {
	if opts.Quota == nil {
		return nil, errors.New("gateway needs a rate limit: set Options.Quota")
	}
	if opts.APIKey.IsZero() {
		return nil, errors.New("no VirusTotal API key for the gateway: set api.key in its config or VT_API_KEY")
	}
	toks, err := newTokens(opts.Clients, opts.APIKey)
	if err != nil {
		return nil, err
	}
	if m := opts.MetricsToken.Reveal(); m != "" && m == opts.APIKey.Reveal() {
		return nil, errors.New("serve.metrics_token is the VirusTotal API key: give the metrics scraper its own token, made with `openssl rand -hex 32`")
	}
	if m := opts.MetricsToken.Reveal(); m != "" {
		// A client token that also reads /metrics would let every host of
		// that client see the whole deployment's counters.
		for _, c := range opts.Clients {
			if c.Token.Reveal() == m {
				return nil, fmt.Errorf("serve.metrics_token is also the token of client %q: give the metrics scraper its own token, made with `openssl rand -hex 32`", c.Name)
			}
		}
	}
	if opts.Cache == nil {
		opts.Cache = cache.Nop{}
	}
	if opts.ClientLimiter == nil {
		opts.ClientLimiter = NewMemoryClients(nil)
	}
	if opts.MaxQueueWait <= 0 {
		opts.MaxQueueWait = DefaultMaxQueueWait
	}
	if opts.QueueRetryAfter <= 0 {
		opts.QueueRetryAfter = DefaultQueueRetryAfter
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.AuthFailureHold <= 0 {
		opts.AuthFailureHold = DefaultAuthFailureHold
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	g := &Gateway{
		opts: opts, quota: opts.Quota, cache: opts.Cache, flight: opts.Flight,
		tokens: toks, limiter: opts.ClientLimiter, log: opts.Logger,
	}
	g.metrics = newMetrics(opts.Registry, opts.Quota, opts.Health)

	hc := &http.Client{}
	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		hc = &copied
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &countingTransport{next: next, counter: g.metrics.upstream}
	g.client, err = vt.New(vt.Config{
		BaseURL:       opts.UpstreamURL,
		APIKey:        opts.APIKey,
		HTTPClient:    hc,
		Timeout:       opts.Timeout,
		MaxRetries:    opts.MaxRetries,
		RateLimitWait: opts.RateLimitWait,
		Limiter:       &boundedLimiter{inner: opts.Quota, maxWait: opts.MaxQueueWait},
		UserAgent:     opts.UserAgent,
		Logger:        opts.Logger.With("component", "upstream"),
	})
	if err != nil {
		return nil, fmt.Errorf("set up the upstream VirusTotal client: %w", err)
	}
	g.base, g.cancel = context.WithCancel(context.Background())

	g.mux = http.NewServeMux()
	g.mux.HandleFunc("GET /healthz", g.serveHealth)
	g.mux.Handle("GET /metrics", g.requireMetricsToken(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{})))
	g.mux.HandleFunc("GET /api/v3/{collection}/{id}", g.serveAPI)
	g.mux.HandleFunc("GET /api/v3/{collection}/{id}/{sub}", g.serveAPI)
	g.mux.HandleFunc("/api/v3/", g.serveUnknown)
	return g, nil
}

// ServeHTTP serves one request and writes its access log line.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK, cache: sourceNone, client: "-"}
	g.mux.ServeHTTP(rec, r)
	elapsed := time.Since(start)

	if rec.api {
		g.metrics.requests.WithLabelValues(rec.client, fmt.Sprint(rec.status)).Inc()
		g.metrics.duration.WithLabelValues(rec.cache).Observe(elapsed.Seconds())
		if rec.cache != sourceNone {
			g.metrics.cache.WithLabelValues(rec.cache).Inc()
		}
	}
	// The path carries the IOC, which is not secret; headers are never
	// logged because x-apikey holds the client's token.
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("query", r.URL.RawQuery),
		slog.Int("status", rec.status),
		slog.Int("bytes", rec.bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("client", rec.client),
		slog.String("cache", rec.cache),
		slog.String("remote", r.RemoteAddr),
	)
}

// recorder captures what the access log and the metrics report.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
	wrote  bool
	api    bool
	client string
	cache  string
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// serveAPI authenticates the client, applies its rate and responds with the
// object or relationship the path names.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec, _ := w.(*recorder)
	if rec == nil {
		rec = &recorder{ResponseWriter: w}
	}
	rec.api = true
	ans := g.respondAPI(r.Context(), r, rec)
	rec.cache = ans.source
	ans.write(rec)
}

func (g *Gateway) respondAPI(ctx context.Context, r *http.Request, rec *recorder) response {
	presented := r.Header.Get("x-apikey")
	if presented == "" {
		return errMissingToken.response(sourceNone)
	}
	client, ok := g.tokens.lookup(presented)
	if !ok {
		return errWrongToken.response(sourceNone)
	}
	rec.client = client.Name

	wait, err := g.limiter.Allow(ctx, client.Name, client.PerMinute)
	if err != nil {
		// A broken limiter must not lock every client out; the
		// deployment's VirusTotal limit still holds.
		g.log.WarnContext(ctx, "client rate check failed; request let through", "client", client.Name, "error", err)
	}
	if wait > 0 {
		g.metrics.rateLimited.WithLabelValues("client").Inc()
		e := &apiError{status: http.StatusTooManyRequests, code: "TooManyRequestsError", retryAfter: wait,
			message: fmt.Sprintf("client %q is over its rate of %d requests per minute", client.Name, client.PerMinute)}
		return e.response(sourceNone)
	}

	res, aerr := parseResource(r)
	if aerr != nil {
		return aerr.response(sourceNone)
	}
	if !g.opts.AllowNonRoutable {
		if addr, ok := nonRoutableAddr(res); ok {
			g.metrics.nonRoutable.Inc()
			return badRequest("%s is a private, loopback or reserved address: the vex gateway does not send such addresses to VirusTotal (api.allow_non_routable is false in the gateway config)", truncate(addr)).response(sourceNone)
		}
	}
	return g.resolve(ctx, res)
}

// serveUnknown responds to API paths outside the served subset with a
// BadRequestError rather than a NotFoundError, which a client would take
// for "not in VirusTotal".
func (g *Gateway) serveUnknown(w http.ResponseWriter, r *http.Request) {
	e := badRequest("%s %s is not served by the vex gateway: it serves GET of files, ip_addresses, domains and urls and the relationships vex investigate uses", r.Method, r.URL.Path)
	if r.Method != http.MethodGet {
		e.status = http.StatusMethodNotAllowed
	}
	e.response(sourceNone).write(w)
}

// serveHealth reports each check as "ok" or "unavailable". It responds 200
// while the gateway serves, degraded or not, so that a load balancer keeps
// a replica whose Redis is down (it still serves, under its local limits),
// and 503 while it shuts down, so the balancer drains it. The endpoint
// needs no token, so the cause of a failed check, which may name internal
// hosts, goes to the debug log and the metrics only.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := "ok"
	checks := map[string]string{}
	for name, check := range g.opts.Health {
		if err := check(ctx); err != nil {
			g.log.DebugContext(ctx, "health check failed", "check", name, "error", err)
			checks[name] = "unavailable"
			status = "degraded"
		} else {
			checks[name] = "ok"
		}
	}
	code := http.StatusOK
	if g.draining.Load() {
		status, code = "shutting_down", http.StatusServiceUnavailable
	}
	body := fmt.Appendf(nil, `{"status":%q,"checks":{`, status)
	first := true
	for name, v := range checks {
		if !first {
			body = append(body, ',')
		}
		first = false
		body = fmt.Appendf(body, "%q:%q", name, v)
	}
	body = append(body, "}}"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// requireMetricsToken lets a request through to next when Options.MetricsToken
// is empty or the request carries it as "Authorization: Bearer <token>".
func (g *Gateway) requireMetricsToken(next http.Handler) http.Handler {
	want := g.opts.MetricsToken.Reveal()
	if want == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vex gateway metrics"`)
			http.Error(w, "missing or wrong metrics token: send Authorization: Bearer <serve.metrics_token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close stops upstream fetches still running after the server shut down,
// waits for them, and closes the state stores.
func (g *Gateway) Close() error {
	g.closeMu.Lock()
	g.closed = true
	g.closeMu.Unlock()
	g.cancel()
	g.fetches.Wait()
	var errs []error
	for i := len(g.opts.Closers) - 1; i >= 0; i-- {
		if err := g.opts.Closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
