package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// Request sets how one lookup or batch runs.
type Request struct {
	Mode       Mode          // Triage (the default when empty) or Investigate
	NoCache    bool          // fetch even when cached; the fresh response is stored
	Offline    bool          // use the cache and KB only; a miss is StatusOfflineMiss
	MaxAge     time.Duration // accept cache entries up to this age; 0 means the cache's own TTL
	AllowStale bool          // when the source is rate-limited or fails, serve an expired entry
	// NoLocal leaves Result.Local empty, for a caller that reads the
	// knowledge base for many results at once with AttachLocal.
	NoLocal bool
}

func (r Request) mode() Mode {
	if r.Mode == "" {
		return Triage
	}
	return r.Mode
}

// LocalStore returns the analyst's knowledge-base data for a normalised IOC.
// The knowledge base implements it; nil means no KB.
type LocalStore interface {
	Local(ctx context.Context, key string) (Local, error)
}

// LocalBatchStore is a LocalStore that also reads many IOCs in a few
// queries. The knowledge base implements it. LocalMany returns a map keyed
// by the keys given, without the keys that have no data.
type LocalBatchStore interface {
	LocalStore
	LocalMany(ctx context.Context, keys []string) (map[string]Local, error)
}

// Options configure an Engine.
type Options struct {
	Enrichers        []Enricher  // tried in order; the first that supports a type handles it
	Cache            cache.Store // nil means no cache
	KB               LocalStore  // nil means no knowledge base
	Thresholds       verdict.Thresholds
	AllowNonRoutable bool // look up private and reserved addresses too
	Concurrency      int  // parallel lookups in a batch; default 4
	Logger           *slog.Logger
	Now              func() time.Time
	// Closers are released by Close, e.g. the SQLite files Open created.
	Closers []func() error
}

// Engine runs lookups through the cache, the enrichers and the knowledge
// base. It is safe for concurrent use.
type Engine struct {
	opt    Options
	flight flightGroup
	quota  interface{ ETA(n int) time.Duration } // set by Open, for ETA
	// staleWarned is set once a stale gateway response was logged as a
	// warning; later ones are logged at debug level.
	staleWarned atomic.Bool
}

// New returns an engine. Missing options get defaults.
func New(opt Options) *Engine {
	if opt.Thresholds == (verdict.Thresholds{}) {
		opt.Thresholds = verdict.DefaultThresholds
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Engine{opt: opt}
}

// Close releases the resources the engine was built with.
func (e *Engine) Close() error {
	var errs []error
	for i := len(e.opt.Closers) - 1; i >= 0; i-- {
		errs = append(errs, e.opt.Closers[i]())
	}
	return errors.Join(errs...)
}

// Lookup enriches one input: any text that Parse accepts, defanged or not.
// It never returns an error: every failure is a status on the Result.
// Concurrent lookups of the same indicator share one source request.
func (e *Engine) Lookup(ctx context.Context, input string, req Request) Result {
	i, err := ioc.Parse(input)
	return e.lookup(ctx, input, i, err, req, nil)
}

// gate stops a batch from sending requests once the quota is spent or the
// key was rejected, while cache hits still return results.
type gate struct {
	mu          sync.Mutex
	status      Status
	reason      string
	rateLimited bool // closed by a per-minute 429, not by a spent daily quota
}

func (g *gate) closed() (Status, string, bool) {
	if g == nil {
		return "", "", false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status, g.reason, g.status != ""
}

func (g *gate) close(s Status, reason string, rateLimited bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.status == "" {
		g.status, g.reason, g.rateLimited = s, reason, rateLimited
	}
	g.mu.Unlock()
}

func (g *gate) closedByRateLimit() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rateLimited
}

// lookup does the work of Lookup for an input that the caller has already
// parsed into i, or failed to parse with parseErr.
func (e *Engine) lookup(ctx context.Context, input string, i ioc.IOC, parseErr error, req Request, g *gate) (r Result) {
	mode := req.mode()
	r = Result{Input: input, Mode: mode, Source: SourceNone}
	if parseErr != nil {
		r.Status = StatusInvalid
		r.Error = invalidReason(parseErr)
		return r
	}
	r.Type, r.Normalized, r.Flags = i.Type, i.Value, i.Flags
	if !req.NoLocal {
		// The named result lets the deferred call change what is returned.
		defer e.attachLocal(ctx, &r)
	}

	if i.Has(ioc.FlagNonRoutable) && !e.opt.AllowNonRoutable {
		r.Status = StatusNonRoutable
		return r
	}
	src := e.enricherFor(i.Type)
	if src == nil {
		r.Status = StatusFailed
		r.Error = fmt.Sprintf("no enricher supports %s", i.Type)
		return r
	}

	ck := cache.Key{Mode: string(mode), Type: string(i.Type), Value: i.Value}
	entry, fresh, cached := e.cached(ctx, ck, req)
	if mode == Triage && !(cached && fresh) && !req.NoCache {
		// An investigation holds the object report triage needs, so its
		// entry answers triage too: a fresh one in preference to a stale
		// triage entry, and any one when there is no triage entry.
		ik := cache.Key{Mode: string(Investigate), Type: ck.Type, Value: ck.Value}
		if ientry, ifresh, icached := e.cached(ctx, ik, req); icached && (ifresh || !cached) {
			entry, fresh, cached = ientry, ifresh, true
		}
	}
	if cached && fresh && !req.NoCache {
		e.fill(src, i, entry, SourceCache, &r)
		return r
	}
	if req.Offline {
		if cached {
			e.fill(src, i, entry, SourceStaleCache, &r)
			return r
		}
		r.Status = StatusOfflineMiss
		r.Error = "offline: not in cache"
		return r
	}
	if s, reason, stop := g.closed(); stop {
		r.Status, r.Error = s, reason
		return r
	}

	rec, fetchedAt, err := e.fetch(ctx, src, i, ck, mode)
	if err != nil {
		e.fail(ctx, err, g, &r)
		if cached && req.AllowStale && r.Status != StatusAuth {
			e.opt.Logger.WarnContext(ctx, "serving stale cache entry", "ioc", i.Value, "error", err)
			e.fill(src, i, entry, SourceStaleCache, &r)
		}
		return r
	}
	from := SourceAPI
	if rec.Stale {
		from = SourceStaleCache
	}
	e.fill(src, i, cache.Entry{Key: ck, Status: string(rec.Status), Data: rec.Data, FetchedAt: fetchedAt}, from, &r)
	return r
}

func invalidReason(err error) string {
	var inv *ioc.InvalidError
	if errors.As(err, &inv) {
		return inv.Reason
	}
	return err.Error()
}

func (e *Engine) enricherFor(t ioc.Type) Enricher {
	for _, en := range e.opt.Enrichers {
		if en.Supports(t) {
			return en
		}
	}
	return nil
}

// cached returns the cache entry for key, whether it is fresh enough for req,
// and whether there was one at all. Cache failures degrade to a miss.
func (e *Engine) cached(ctx context.Context, key cache.Key, req Request) (cache.Entry, bool, bool) {
	if e.opt.Cache == nil {
		return cache.Entry{}, false, false
	}
	entry, fresh, err := e.opt.Cache.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, cache.ErrMiss) {
			e.opt.Logger.WarnContext(ctx, "cache read failed; looking up instead", "ioc", key.Value, "error", err)
		}
		return cache.Entry{}, false, false
	}
	if req.MaxAge > 0 {
		fresh = e.opt.Now().Sub(entry.FetchedAt) <= req.MaxAge
	}
	return entry, fresh, true
}

// fetch queries the source, sharing one request among concurrent callers
// for the same key, and stores the response in the cache.
func (e *Engine) fetch(ctx context.Context, src Enricher, i ioc.IOC, key cache.Key, mode Mode) (Record, time.Time, error) {
	type answer struct {
		rec Record
		at  time.Time
	}
	flightKey := src.Name() + "\x00" + key.Mode + "\x00" + key.Type + "\x00" + key.Value
	v, err := e.flight.do(ctx, flightKey, func() (any, error) {
		rec, err := src.Fetch(ctx, i, mode)
		if err != nil {
			return nil, err
		}
		if rec.Stale {
			// An expired copy from a gateway is not cached. Its age is
			// often unknown, and a cache entry stamped now would pass it
			// off as a fresh lookup for the cache's whole TTL. The gateway
			// keeps it, so a rerun costs no VirusTotal quota.
			level := slog.LevelDebug
			if e.staleWarned.CompareAndSwap(false, true) {
				level = slog.LevelWarn
			}
			attrs := []any{"ioc", i.Value}
			if !rec.FetchedAt.IsZero() {
				attrs = append(attrs, "fetched_at", rec.FetchedAt)
			}
			e.opt.Logger.Log(ctx, level, "the gateway served an expired entry because VirusTotal failed; "+
				"reporting it as stale_cache and not caching it", attrs...)
			return answer{rec, rec.FetchedAt}, nil
		}
		at := e.opt.Now().UTC()
		if !rec.FetchedAt.IsZero() && rec.FetchedAt.Before(at) {
			// A gateway's cached copy: its entry here expires by this
			// cache's TTL counted from when VirusTotal was asked.
			at = rec.FetchedAt
		}
		if e.opt.Cache != nil {
			entry := cache.Entry{Key: key, Status: string(rec.Status), Data: rec.Data, FetchedAt: at}
			if err := e.opt.Cache.Put(ctx, entry); err != nil {
				e.opt.Logger.WarnContext(ctx, "cache write failed; result kept", "ioc", i.Value, "error", err)
			}
		}
		return answer{rec, at}, nil
	})
	if err != nil {
		return Record{}, time.Time{}, err
	}
	a := v.(answer)
	return a.rec, a.at, nil
}

// RateLimitedError is the Error of a StatusQuota result whose lookup met
// VirusTotal's per-minute rate limit after every retry. The usual cause is
// an api.tier or api.per_minute setting above what the key allows.
const RateLimitedError = "not looked up: VirusTotal rate-limited the key (HTTP 429); " +
	"check that api.tier and api.per_minute match the key"

// fail sets the status for a failed fetch and closes the batch gate when the
// failure means no further request can succeed. A deadline inside the
// client (one attempt timing out) is a failed lookup; only the caller's ctx
// ending makes it cancelled.
func (e *Engine) fail(ctx context.Context, err error, g *gate, r *Result) {
	switch {
	case errors.Is(err, ErrRateLimited):
		// The same status as a spent daily quota, so scripts, the osquery
		// table and the Splunk command need no new value, and VirusTotal
		// itself calls the per-minute limit a quota (QuotaExceededError).
		// The error text separates the two: no reset time is promised here,
		// because the daily quota is not the cause.
		r.Status = StatusQuota
		r.Error = RateLimitedError
		g.close(StatusQuota, r.Error, true)
	case errors.Is(err, ErrQuota):
		r.Status = StatusQuota
		r.Error = "not looked up: quota exhausted"
		g.close(StatusQuota, r.Error, false)
	case errors.Is(err, ErrUnauthorized):
		r.Status = StatusAuth
		r.Error = "not looked up: API key rejected"
		g.close(StatusAuth, r.Error, false)
	case ctx.Err() != nil:
		// The caller's deadline or cancel explains it; the wrapped error
		// would only repeat the request URL.
		r.Status = StatusCancelled
		r.Error = "not looked up: run cancelled"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.Error = "not looked up: deadline exceeded"
		}
	default:
		r.Status = StatusFailed
		r.Error = err.Error()
	}
}

// fill decodes a record into r and sets the verdict.
func (e *Engine) fill(src Enricher, i ioc.IOC, entry cache.Entry, from Source, r *Result) {
	r.Source = from
	r.FetchedAt = entry.FetchedAt
	rec := Record{Status: RecordStatus(entry.Status), Data: entry.Data}
	if err := src.Decode(i, rec, r); err != nil {
		r.Status = StatusFailed
		r.Error = fmt.Sprintf("decode %s response: %v", src.Name(), err)
		r.Verdict = verdict.Unknown
		return
	}
	if rec.Status == RecordNotFound {
		r.Status = StatusNotFound
		r.Verdict = verdict.Unknown
		return
	}
	r.Status = StatusOK
	r.Engines = r.Stats.Engines()
	r.Verdict = verdict.Of(r.Stats, e.opt.Thresholds)
}

// AttachLocal sets the knowledge-base data of results looked up with
// Request.NoLocal, reading it for all of them at once when the knowledge
// base is a LocalBatchStore. Each result gets what Lookup would have given
// it. A failed read is logged and leaves Local empty, as in Lookup.
func (e *Engine) AttachLocal(ctx context.Context, results []Result) {
	batch, ok := e.opt.KB.(LocalBatchStore)
	if !ok {
		for i := range results {
			e.attachLocal(ctx, &results[i])
		}
		return
	}
	keys := make([]string, 0, len(results))
	for _, r := range results {
		if r.Normalized != "" {
			keys = append(keys, r.Normalized)
		}
	}
	if len(keys) == 0 {
		return
	}
	found, err := batch.LocalMany(context.WithoutCancel(ctx), keys)
	if err != nil {
		e.opt.Logger.WarnContext(ctx, "knowledge base read failed", "iocs", len(keys), "error", err)
		return
	}
	for i := range results {
		if l, ok := found[results[i].Normalized]; ok && results[i].Normalized != "" {
			results[i].Local = l
		}
	}
}

func (e *Engine) attachLocal(ctx context.Context, r *Result) {
	if e.opt.KB == nil || r.Normalized == "" {
		return
	}
	// The KB is a local file and quick to read, so even a result cut short
	// by cancellation carries the analyst's tags and notes.
	l, err := e.opt.KB.Local(context.WithoutCancel(ctx), r.Normalized)
	if err != nil {
		e.opt.Logger.WarnContext(ctx, "knowledge base read failed", "ioc", r.Normalized, "error", err)
		return
	}
	r.Local = l
}
