package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/vt"
)

// resolve returns the response for res from the cache, or from one upstream fetch shared by
// every concurrent request for it.
func (g *Gateway) resolve(ctx context.Context, res resource) response {
	key := res.cacheKey()
	if a, ok := g.fromCache(ctx, res, key, false); ok {
		return a
	}

	g.closeMu.Lock()
	if g.closed {
		g.closeMu.Unlock()
		return (&apiError{status: http.StatusServiceUnavailable, code: "TransientError",
			message: "the gateway is shutting down; retry on another replica"}).response(sourceNone)
	}
	g.fetches.Add(1)
	g.closeMu.Unlock()
	a, shared, err := g.group.do(ctx, key.String(), func() response {
		defer g.fetches.Done()
		fctx, cancel := context.WithTimeout(g.base, g.opts.FetchTimeout)
		defer cancel()
		return g.fetchShared(fctx, res, key)
	}, func() { g.fetches.Done() })
	if err != nil {
		// The client went away; the fetch goes on and fills the cache.
		return (&apiError{status: http.StatusGatewayTimeout, code: "DeadlineExceededError",
			message: "the request ended before the upstream response arrived"}).response(sourceNone)
	}
	if shared && a.source == sourceMiss {
		a.source = sourceShared
	}
	if g.opts.ServeStale && (a.Status == http.StatusTooManyRequests || a.Status >= 500) {
		if stale, ok := g.fromCache(ctx, res, key, true); ok {
			stale.source = sourceStale
			return stale
		}
	}
	return a
}

// fromCache returns the cached response for key; allowStale accepts an
// expired entry. A cache error is logged and treated as a miss.
func (g *Gateway) fromCache(ctx context.Context, res resource, key cache.Key, allowStale bool) (response, bool) {
	e, fresh, err := g.cache.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, cache.ErrMiss) && ctx.Err() == nil {
			g.log.WarnContext(ctx, "cache read failed; looking up upstream", "key", key.String(), "error", err)
		}
		return response{}, false
	}
	if !fresh && !allowStale {
		return response{}, false
	}
	switch e.Status {
	case cache.StatusOK:
		return response{Status: http.StatusOK, Body: e.Data, source: sourceHit, fetchedAt: e.FetchedAt}, true
	case cache.StatusNotFound:
		nf := notFound(res).response(sourceHit)
		nf.fetchedAt = e.FetchedAt
		return nf, true
	}
	return response{}, false
}

// fetchShared makes sure one replica fetches key: it takes the shared lock
// and fetches, or waits for the holder and reads the holder's result. When
// the lock is unusable (Redis down) this replica fetches on its own.
func (g *Gateway) fetchShared(ctx context.Context, res resource, key cache.Key) response {
	if g.flight == nil {
		a, _ := g.fetchUpstream(ctx, res, key)
		return a
	}
	name := key.String()
	for {
		unlock, held, err := g.flight.TryLock(ctx, name)
		if err != nil {
			a, _ := g.fetchUpstream(ctx, res, key)
			return a
		}
		if held {
			// The previous holder may have finished between our cache
			// miss and the lock.
			if a, ok := g.fromCache(ctx, res, key, false); ok {
				unlock(nil)
				a.source = sourceShared
				return a
			}
			a, cached := g.fetchUpstream(ctx, res, key)
			var note []byte
			if !cached {
				note = a.encode()
			}
			unlock(note)
			return a
		}

		note, err := g.flight.Wait(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return (&apiError{status: http.StatusGatewayTimeout, code: "DeadlineExceededError",
					message: "timed out waiting for another gateway replica's upstream request"}).response(sourceNone)
			}
			a, _ := g.fetchUpstream(ctx, res, key)
			return a
		}
		if a, ok := g.fromCache(ctx, res, key, false); ok {
			a.source = sourceShared
			return a
		}
		if a, ok := decodeResponse(note); ok {
			a.source = sourceShared
			return a
		}
		// The holder left neither a cache entry nor a note: it stopped
		// (a crashed replica's lock expired), so try to take over.
	}
}

// fetchUpstream sends the request to VirusTotal and caches objects and
// not-found responses. cached reports whether the response reached the cache.
func (g *Gateway) fetchUpstream(ctx context.Context, res resource, key cache.Key) (a response, cached bool) {
	if g.opts.Now().UnixNano() < g.authFailedUntil.Load() {
		return errUpstreamKey.response(sourceNone), false
	}
	body, err := g.client.Get(ctx, res.path, res.query)
	switch {
	case err == nil:
		return response{Status: http.StatusOK, Body: body, source: sourceMiss}, g.store(ctx, key, cache.StatusOK, body)
	case errors.Is(err, vt.ErrNotFound):
		return notFound(res).response(sourceMiss), g.store(ctx, key, cache.StatusNotFound, nil)
	}
	return g.upstreamError(ctx, res, err).response(sourceMiss), false
}

func (g *Gateway) store(ctx context.Context, key cache.Key, status string, data []byte) bool {
	if err := g.cache.Put(ctx, cache.Entry{Key: key, Status: status, Data: data}); err != nil {
		g.log.WarnContext(ctx, "cache write failed; the next request looks up upstream again", "key", key.String(), "error", err)
		return false
	}
	return true
}

// upstreamError turns a failed upstream lookup into the client's response.
// Errors of the gateway's own credentials or upstream become 5xx, so no
// client mistakes them for a problem with its token.
func (g *Gateway) upstreamError(ctx context.Context, res resource, err error) *apiError {
	var ve *vt.Error
	errors.As(err, &ve)
	switch {
	case errors.Is(err, errQueueTimeout):
		g.metrics.rateLimited.WithLabelValues("deployment").Inc()
		return &apiError{status: http.StatusTooManyRequests, code: "QuotaExceededError", retryAfter: g.opts.QueueRetryAfter,
			message: "the gateway's VirusTotal rate limit is busy; retry later"}
	case errors.Is(err, ratelimit.ErrQuotaExhausted):
		g.metrics.rateLimited.WithLabelValues("deployment").Inc()
		now := time.Now().UTC()
		reset := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		return &apiError{status: http.StatusTooManyRequests, code: "QuotaExceededError", retryAfter: reset.Sub(now),
			message: "the gateway's daily VirusTotal quota is spent; it resets at 00:00 UTC"}
	case errors.Is(err, vt.ErrQuotaExceeded):
		g.metrics.rateLimited.WithLabelValues("deployment").Inc()
		retry := g.opts.QueueRetryAfter
		if ve != nil && ve.RetryAfter > retry {
			retry = ve.RetryAfter
		}
		// VirusTotal asking for more than a minute means the key's daily
		// quota is gone, maybe spent by another user of the key.
		if ve != nil && ve.RetryAfter > time.Minute {
			if merr := g.quota.MarkExhausted(ctx); merr != nil {
				g.log.WarnContext(ctx, "record the spent daily quota", "error", merr)
			}
		}
		g.log.WarnContext(ctx, "VirusTotal rejected a request with 429", "path", res.path, "error", err)
		return &apiError{status: http.StatusTooManyRequests, code: "QuotaExceededError", retryAfter: retry,
			message: "VirusTotal reports the gateway's quota exceeded; retry later"}
	case errors.Is(err, vt.ErrUnauthorized):
		g.authFailedUntil.Store(g.opts.Now().Add(g.opts.AuthFailureHold).UnixNano())
		g.log.ErrorContext(ctx, "VirusTotal rejected the gateway's API key; fix api.key in the gateway config and restart the gateway",
			"path", res.path, "error", err, "upstream_paused", g.opts.AuthFailureHold.String())
		return errUpstreamKey
	case errors.Is(err, vt.ErrForbidden):
		msg := "VirusTotal denied access; this endpoint may require a premium API key"
		if ve != nil && ve.Message != "" {
			msg = ve.Message
		}
		return &apiError{status: http.StatusForbidden, code: "ForbiddenError", message: msg}
	case errors.Is(err, vt.ErrBadRequest) && ve != nil:
		code := ve.Code
		if code == "" {
			code = "BadRequestError"
		}
		return &apiError{status: http.StatusBadRequest, code: code, message: ve.Message}
	case ctx.Err() != nil:
		g.log.WarnContext(ctx, "upstream lookup timed out", "path", res.path, "error", err)
		return &apiError{status: http.StatusGatewayTimeout, code: "DeadlineExceededError",
			message: "the upstream VirusTotal request timed out"}
	}
	g.log.WarnContext(ctx, "upstream lookup failed", "path", res.path, "error", err)
	return &apiError{status: http.StatusBadGateway, code: "TransientError",
		message: "the upstream VirusTotal request failed; retry later"}
}

// errQueueTimeout means a miss waited MaxQueueWait for the rate limit.
var errQueueTimeout = errors.New("timed out waiting for the deployment's VirusTotal rate limit")

// boundedLimiter gives up on the rate limit after maxWait, so a client gets
// a 429 with Retry-After instead of a request that hangs past its timeout.
type boundedLimiter struct {
	inner   ratelimit.Limiter
	maxWait time.Duration
}

func (b *boundedLimiter) Wait(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, b.maxWait)
	defer cancel()
	err := b.inner.Wait(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w after %s", errQueueTimeout, b.maxWait)
	}
	return err
}

// callGroup runs one fetch per key in this process and hands its response
// to every caller that asked meanwhile. The fetch runs on its own
// goroutine, so a caller whose request ends does not cancel it for the
// others.
type callGroup struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	ans  response
}

// do returns the response of fn for key, started by this caller or by an
// earlier one (shared=true). skip runs instead of fn when an earlier call
// is reused. err is ctx.Err() when ctx ends first.
func (c *callGroup) do(ctx context.Context, key string, fn func() response, skip func()) (a response, shared bool, err error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]*call{}
	}
	cl, shared := c.calls[key]
	if !shared {
		cl = &call{done: make(chan struct{})}
		c.calls[key] = cl
	}
	c.mu.Unlock()

	if shared {
		skip()
	} else {
		go func() {
			cl.ans = fn()
			c.mu.Lock()
			delete(c.calls, key)
			c.mu.Unlock()
			close(cl.done)
		}()
	}
	select {
	case <-cl.done:
		return cl.ans, shared, nil
	case <-ctx.Done():
		return response{}, shared, ctx.Err()
	}
}
