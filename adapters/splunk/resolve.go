package splunk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
)

// resolve looks up c.pending: first in the shared cache, then through the
// engine, and stores the engine's fresh answers in the shared cache.
func (c *command) resolve(ctx context.Context) error {
	if c.backend == nil {
		b, err := c.cfg.Open(ctx, c.info, c.args)
		if err != nil {
			return fmt.Errorf("set up vex for this search: %w", err)
		}
		c.backend = b
		c.deadline = time.Now().Add(c.args.Timeout)
	}
	ctx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()

	rest := c.fromShared(ctx, c.pending)
	if len(rest) == 0 {
		return nil
	}

	req := enrich.Request{Mode: c.args.Mode, Offline: c.args.Offline, MaxAge: c.args.MaxAge, AllowStale: true}
	toSave := make(map[string]enrich.Result)
	counts := make(map[enrich.Status]int)
	batch := c.backend.Enricher.Batch
	if cb, ok := c.backend.Enricher.(CachedBatcher); ok {
		batch = cb.BatchCached
	}
	stats := batch(ctx, rest, req, func(i int, r enrich.Result) {
		c.memo[rest[i]] = renderCells(r)
		counts[r.Status]++
		if r.Source == enrich.SourceAPI && r.Status.Enriched() {
			if key, ok := c.cacheKey(rest[i]); ok {
				toSave[key] = r
			}
		}
	})

	// Report what could not be looked up under the search bar as well as
	// in the vt_status field of each event.
	if n := counts[enrich.StatusQuota]; n > 0 || stats.Stopped == enrich.StatusQuota {
		c.warn("quota", "VirusTotal quota exhausted: %d values not looked up (%sstatus=%s); cached results are still used", n, c.args.Prefix, enrich.StatusQuota)
	}
	if n := counts[enrich.StatusAuth]; n > 0 || stats.Stopped == enrich.StatusAuth {
		c.warn("auth", "VirusTotal rejected the API key: %d values not looked up; store a valid key in storage/passwords (realm vex)", n)
	}
	if n := counts[enrich.StatusCancelled]; n > 0 {
		c.warn("timeout", "lookups stopped after timeout=%s: %d values not looked up; rerun the search (results found so far are cached) or raise timeout=", c.args.Timeout, n)
	}
	if n := counts[enrich.StatusFailed]; n > 0 {
		c.warn("failed", "%d values could not be looked up; see %serror on the events", n, c.args.Prefix)
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) && time.Now().Before(c.deadline) {
		return fmt.Errorf("search cancelled: %w", ctx.Err())
	}

	c.toShared(ctx, toSave)
	return nil
}

func (c *command) sharedCache() SharedCache {
	if c.sharedOff || c.backend == nil {
		return nil
	}
	return c.backend.Shared
}

func (c *command) cacheKey(value string) (string, bool) {
	if c.cfg.CacheKey == nil {
		return string(c.args.Mode) + ":" + value, value != ""
	}
	return c.cfg.CacheKey(c.args.Mode, value)
}

// fromShared fills c.memo from the shared cache and returns the values it
// did not have. Any error turns the shared cache off for the search.
func (c *command) fromShared(ctx context.Context, values []string) []string {
	shared := c.sharedCache()
	if shared == nil {
		return values
	}
	keys := make([]string, 0, len(values))
	keyOf := make([]string, len(values))
	for i, v := range values {
		if k, ok := c.cacheKey(v); ok {
			keyOf[i] = k
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return values
	}
	found, err := shared.Find(ctx, keys)
	if err != nil {
		c.sharedOff = true
		c.warn("kvstore", "KV store cache unavailable, using the local cache only: %v", err)
		return values
	}

	maxAge := c.args.MaxAge
	if maxAge == 0 {
		maxAge = c.cfg.SharedTTL
	}
	now := c.cfg.Now()
	rest := values[:0:0]
	for i, v := range values {
		r, ok := found[keyOf[i]]
		if !ok || keyOf[i] == "" {
			rest = append(rest, v)
			continue
		}
		if now.Sub(r.FetchedAt) > maxAge {
			if !c.args.Offline {
				rest = append(rest, v)
				continue
			}
			// Offline, an old answer beats none, and the source says so.
			r.Source = enrich.SourceStaleCache
		} else {
			r.Source = enrich.SourceCache
		}
		r.Input = v
		c.memo[v] = renderCells(r)
	}
	return rest
}

func (c *command) toShared(ctx context.Context, results map[string]enrich.Result) {
	shared := c.sharedCache()
	if shared == nil || len(results) == 0 || ctx.Err() != nil {
		return
	}
	if err := shared.Save(ctx, results); err != nil {
		c.sharedOff = true
		c.warn("kvstore", "KV store cache unavailable, using the local cache only: %v", err)
	}
}
