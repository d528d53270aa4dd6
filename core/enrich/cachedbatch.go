package enrich

import (
	"context"
	"runtime"
	"sync"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ioc"
)

// BatchCached enriches inputs and gives each input the Result that Batch
// would give it, but first reads the cache with one query per
// cachedBatchGroup inputs when the cache is a cache.BatchGetter, and
// decodes the fresh entries on every core. Inputs without a fresh entry of their own mode go
// through Batch. emit is called once per input from the calling goroutine:
// first for the inputs served from the cache in input order, then for
// the rest in input order.
func (e *Engine) BatchCached(ctx context.Context, inputs []string, req Request, emit func(i int, r Result)) BatchStats {
	batchGetter, ok := e.opt.Cache.(cache.BatchGetter)
	if !ok || req.NoCache || len(inputs) == 0 {
		return e.Batch(ctx, inputs, req, emit)
	}

	// Find the inputs that a cache hit may serve, and count distinct
	// indicators as Batch does: every invalid input counts as one.
	mode := req.mode()
	type candidate struct {
		index  int
		parsed ioc.IOC
		src    Enricher
		key    cache.Key
	}
	var (
		stats      = BatchStats{Inputs: len(inputs)}
		candidates []candidate
		seen       = make(map[string]bool, len(inputs))
	)
	for i, input := range inputs {
		parsed, err := ioc.Parse(input)
		if key := dedupKey(parsed, err); key == "" || !seen[key] {
			seen[key] = key != ""
			stats.Distinct++
		} else {
			stats.Duplicates++
		}
		if err != nil || (parsed.Has(ioc.FlagNonRoutable) && !e.opt.AllowNonRoutable) {
			continue
		}
		src := e.enricherFor(parsed.Type)
		if src == nil {
			continue
		}
		key := cache.Key{Mode: string(mode), Type: string(parsed.Type), Value: parsed.Value}
		candidates = append(candidates, candidate{index: i, parsed: parsed, src: src, key: key})
	}

	// Read, decode and emit the candidates a group at a time, so the raw
	// entries in memory at once stay a few megabytes however many inputs
	// there are.
	now := e.opt.Now()
	hit := make([]bool, len(inputs))
	hits := 0
	keys := make([]cache.Key, 0, cachedBatchGroup)
	for len(candidates) > 0 {
		group := candidates[:min(len(candidates), cachedBatchGroup)]
		candidates = candidates[len(group):]
		keys = keys[:0]
		for _, c := range group {
			keys = append(keys, c.key)
		}
		found, err := batchGetter.GetMany(ctx, keys)
		if err != nil {
			e.opt.Logger.WarnContext(ctx, "cache read failed; looking up instead", "iocs", len(keys), "error", err)
			found = nil
		}

		// A fresh entry of the request's mode serves the input here. Any
		// other case, including a triage input that an investigation entry
		// may serve, takes Lookup's own path through Batch.
		fresh := group[:0:0]
		for _, c := range group {
			f, ok := found[c.key]
			if !ok {
				continue
			}
			isFresh := f.Fresh
			if req.MaxAge > 0 {
				isFresh = now.Sub(f.Entry.FetchedAt) <= req.MaxAge
			}
			if isFresh {
				fresh = append(fresh, c)
				hit[c.index] = true
			}
		}

		results := make([]Result, len(fresh))
		parallel(len(fresh), func(j int) {
			c := fresh[j]
			r := Result{Input: inputs[c.index], Mode: mode, Source: SourceNone,
				Type: c.parsed.Type, Normalized: c.parsed.Value, Flags: c.parsed.Flags}
			e.fill(c.src, c.parsed, found[c.key].Entry, SourceCache, &r)
			results[j] = r
		})
		if !req.NoLocal && e.opt.KB != nil {
			e.AttachLocal(ctx, results)
		}
		for j, c := range fresh {
			emit(c.index, results[j])
		}
		hits += len(fresh)
	}
	if hits == len(inputs) {
		return stats
	}

	rest := make([]string, 0, len(inputs)-hits)
	restIndex := make([]int, 0, len(inputs)-hits)
	for i, input := range inputs {
		if !hit[i] {
			rest = append(rest, input)
			restIndex = append(restIndex, i)
		}
	}
	restStats := e.Batch(ctx, rest, req, func(i int, r Result) { emit(restIndex[i], r) })
	stats.Stopped, stats.RateLimited = restStats.Stopped, restStats.RateLimited
	return stats
}

// cachedBatchGroup is how many inputs BatchCached reads and decodes at a
// time: at about 7 KB per VirusTotal object, about 2 MB of raw entries.
const cachedBatchGroup = 256

// parallel calls f for 0 to n-1 on up to GOMAXPROCS goroutines and returns
// when every call has returned.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	const step = 64 // indexes taken at a time, so the lock is rarely contended
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				from := next
				next += step
				mu.Unlock()
				if from >= n {
					return
				}
				for i := from; i < min(from+step, n); i++ {
					f(i)
				}
			}
		})
	}
	wg.Wait()
}
