package enrich

import (
	"context"
	"iter"
	"slices"
	"sync"

	"github.com/vex-ioc/vex/core/ioc"
)

// BatchStats counts what a batch did.
type BatchStats struct {
	Inputs     int    // inputs read
	Distinct   int    // distinct indicators and invalid inputs looked at
	Duplicates int    // inputs that reused the result of an earlier one in the same batch
	Stopped    Status // StatusQuota or StatusAuth when the batch stopped sending requests
	// RateLimited is set when Stopped is StatusQuota because VirusTotal
	// kept answering 429 for its per-minute rate, while the daily quota
	// was not spent.
	RateLimited bool
}

// keptResults is how many emitted results a batch keeps for later
// duplicates. A duplicate of an older one is looked up again, and the cache
// returns it without a request.
const keptResults = 8192

// window bounds how many inputs are between being read and being emitted, so
// a batch streams in bounded memory however long its input is.
const windowPerWorker = 64

// Batch enriches inputs; see Stream.
func (e *Engine) Batch(ctx context.Context, inputs []string, req Request, emit func(i int, r Result)) BatchStats {
	return e.Stream(ctx, slices.Values(inputs), req, emit)
}

// Stream enriches a sequence of inputs concurrently and calls emit once per
// input, in input order, as results become ready. Inputs with the same
// normalised IOC share one lookup. When the source reports the quota spent or
// the key rejected, Stream sends no further requests: later inputs are still
// served from the cache, or get StatusQuota or StatusAuth. When ctx ends,
// Stream stops reading input, and inputs already read are emitted with
// StatusCancelled unless their lookup finished.
//
// Memory is bounded by the window of in-flight inputs, the last keptResults
// results, and one key per distinct indicator seen.
func (e *Engine) Stream(ctx context.Context, inputs iter.Seq[string], req Request, emit func(i int, r Result)) BatchStats {
	var (
		g     gate
		stats BatchStats
		slots = make(chan struct{}, e.opt.Concurrency*windowPerWorker)
		jobs  = make(chan *batchItem)
		queue = make(chan *batchItem, cap(slots))
		wg    sync.WaitGroup
	)

	for range e.opt.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range jobs {
				r := req
				if it.repeat {
					// This run already fetched it, so the cache is fresh.
					r.NoCache = false
				}
				it.result = e.lookup(ctx, it.input, it.parsed, it.parseErr, r, &g)
				close(it.done)
			}
		}()
	}

	// The reader parses each input, gives duplicates the result of their
	// first occurrence and queues the rest for the workers, in input order.
	// The emitter keeps the last keptResults results; a duplicate of an
	// older one is looked up again, and the cache serves it.
	var seenMu sync.Mutex
	seen := make(map[string]*batchItem)
	go func() {
		defer close(queue)
		defer close(jobs)
		n := 0
		defer func() { stats.Inputs = n }()
		for input := range inputs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				// This input is read, so it still gets its result. The
				// emitter frees a slot for every result, so the wait ends.
				slots <- struct{}{}
				it := &batchItem{index: n, input: input, result: cancelled(input, req), done: make(chan struct{})}
				close(it.done)
				n++
				queue <- it
				return
			}
			// Parsed once here; the worker reuses it.
			parsed, parseErr := ioc.Parse(input)
			key := dedupKey(parsed, parseErr)
			it := &batchItem{index: n, input: input, parsed: parsed, parseErr: parseErr, key: key, done: make(chan struct{})}
			n++
			seenMu.Lock()
			first, dup := seen[key]
			if key != "" && !dup {
				seen[key] = it
			}
			seenMu.Unlock()
			if key != "" && dup {
				stats.Duplicates++
				if first != emitted {
					it.first = first
					queue <- it
					continue
				}
				it.repeat = true
			} else {
				stats.Distinct++
			}
			queue <- it
			select {
			case jobs <- it:
			case <-ctx.Done():
				it.result = cancelled(input, req)
				close(it.done)
			}
		}
	}()

	kept := make([]*batchItem, keptResults)
	next := 0
	for it := range queue {
		if it.first != nil {
			<-it.first.done
			it.result = it.first.result
			it.result.Input = it.input
		} else {
			<-it.done
		}
		emit(it.index, it.result)
		if it.first == nil && !it.repeat && it.key != "" {
			// Keep the latest results for duplicates; forget the oldest.
			if old := kept[next]; old != nil {
				seenMu.Lock()
				seen[old.key] = emitted
				seenMu.Unlock()
			}
			kept[next] = it
			next = (next + 1) % len(kept)
		}
		<-slots
	}
	wg.Wait()
	stats.Stopped, _, _ = g.closed()
	stats.RateLimited = g.closedByRateLimit()
	return stats
}

// batchItem is one input on its way through a batch.
type batchItem struct {
	index    int
	input    string
	parsed   ioc.IOC // input parsed, valid when parseErr is nil
	parseErr error
	key      string     // dedupKey of input
	first    *batchItem // earlier input with the same IOC, or nil
	repeat   bool       // a duplicate whose first occurrence was already emitted
	result   Result
	done     chan struct{} // closed when result is set
}

// emitted replaces a first occurrence in the batch's seen map once it has
// been emitted, so its result can be freed.
var emitted = &batchItem{}

// dedupKey returns the normalised IOC, or "" for invalid input, which is
// never merged so each bad line is reported where it is.
func dedupKey(i ioc.IOC, parseErr error) string {
	if parseErr != nil {
		return ""
	}
	return string(i.Type) + ":" + i.Value
}

func cancelled(input string, req Request) Result {
	return Result{Input: input, Mode: req.mode(), Status: StatusCancelled, Source: SourceNone,
		Error: "not looked up: run cancelled"}
}
