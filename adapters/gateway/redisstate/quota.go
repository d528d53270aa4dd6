package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/core/ratelimit"
)

// reserveScript takes one request slot if the sliding window and the daily
// quota allow it, atomically for every replica. It applies the rule of
// package ratelimit: at most per_minute reservations with a time in
// (now-window, now], at most per_day per UTC day, nothing once the day is
// marked exhausted.
//
// KEYS: window sorted set (score = reservation time in ms), day counter,
// exhausted flag. ARGV: now ms, window ms, per_minute, per_day, unique
// member, day counter TTL ms.
// Returns {0, used} when reserved, {wait_ms, used} when the window is full,
// {-1, used} when the daily quota is spent.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local perMinute = tonumber(ARGV[3])
local perDay = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[3]) == 1 or used >= perDay then
  return {-1, used}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local live = redis.call('ZCARD', KEYS[1])
if live < perMinute then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  used = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
  return {0, used}
end
local freeing = redis.call('ZRANGE', KEYS[1], live - perMinute, live - perMinute, 'WITHSCORES')
local wait = math.floor(tonumber(freeing[2]) + window - now)
if wait < 1 then wait = 1 end
return {wait, used}
`)

// dayCounterTTL keeps a day's counter a little longer than the day, so a
// replica with a clock slightly behind still finds it.
const dayCounterTTL = 48 * time.Hour

// maxSleep bounds one sleep of Wait, so a reservation freed early (by a
// clock correction, or a restart of Redis) is noticed soon.
const maxSleep = time.Second

// QuotaOptions configure a Quota.
type QuotaOptions struct {
	// Replicas is how many gateway replicas share the limits. While Redis
	// is unreachable each replica falls back to an in-process limiter with
	// 1/Replicas of the per-minute limit and the daily quota, so the
	// deployment as a whole stays within them. Default 1.
	Replicas int
	// Sleep waits between attempts; tests replace it. Default: a timer
	// that ends early when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Quota is a ratelimit.Quota whose sliding window and daily count live in
// Redis, so every replica of the gateway draws from one budget. Each
// reservation is one Lua script call, atomic in Redis. While Redis is
// unreachable it falls back to a share of the limits held in the process,
// and once Redis is back it adds the requests made meanwhile to the shared
// counters.
type Quota struct {
	conn     *Conn
	limits   ratelimit.Limits
	fallback *ratelimit.Memory
	sleep    func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	pending []time.Time // reservations made by the fallback, not yet in Redis
}

var _ ratelimit.Quota = (*Quota)(nil)

// NewQuota returns the shared limiter for limits on conn.
func NewQuota(conn *Conn, limits ratelimit.Limits, opts QuotaOptions) (*Quota, error) {
	if limits.PerMinute < 1 || limits.PerDay < 1 {
		return nil, fmt.Errorf("%w: per_minute=%d per_day=%d, both must be at least 1", ratelimit.ErrInvalidLimits, limits.PerMinute, limits.PerDay)
	}
	replicas := max(opts.Replicas, 1)
	share := ratelimit.Limits{PerMinute: max(limits.PerMinute/replicas, 1), PerDay: max(limits.PerDay/replicas, 1)}
	fb, err := ratelimit.NewMemory(share, ratelimit.Options{Now: conn.now, Logger: conn.log})
	if err != nil {
		return nil, err
	}
	q := &Quota{conn: conn, limits: limits, fallback: fb, sleep: opts.Sleep}
	if q.sleep == nil {
		q.sleep = sleepContext
	}
	return q, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func dayKey(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func nextReset(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

func (q *Quota) keys(now time.Time) []string {
	day := dayKey(now)
	return []string{q.conn.Key("q:window"), q.conn.Key("q:day:" + day), q.conn.Key("q:exhausted:" + day)}
}

// uniqueMember returns a sorted-set member that no other reservation
// shares, so two replicas reserving in the same millisecond both count.
func uniqueMember(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// Wait reserves one request, blocking while the shared window is full. It
// returns an error wrapping ratelimit.ErrQuotaExhausted at once when the
// day's quota is spent, and ctx.Err() when ctx ends. While Redis is
// unreachable the in-process share decides.
func (q *Quota) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, err := q.reserve(ctx)
		switch {
		case errors.Is(err, ErrUnavailable):
			return q.waitLocal(ctx)
		case err != nil:
			return err
		case wait == 0:
			return nil
		}
		if err := q.sleep(ctx, min(wait, maxSleep)); err != nil {
			return err
		}
	}
}

// reserve runs the script once: (0, nil) means reserved, a positive wait
// means the window is full.
func (q *Quota) reserve(ctx context.Context) (time.Duration, error) {
	q.flushPending(ctx)
	now := q.conn.now()
	var res []int64
	err := q.conn.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = reserveScript.Run(ctx, q.conn.rdb, q.keys(now),
			now.UnixMilli(), ratelimit.Window.Milliseconds(), q.limits.PerMinute, q.limits.PerDay,
			uniqueMember(now), dayCounterTTL.Milliseconds()).Int64Slice()
		return err
	})
	if err != nil {
		return 0, err
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("%w: rate limit script returned %d values, want 2", ErrUnavailable, len(res))
	}
	if res[0] < 0 {
		return 0, fmt.Errorf("%w: %d of %d requests used today, resets at %s",
			ratelimit.ErrQuotaExhausted, res[1], q.limits.PerDay, nextReset(now).Format(time.RFC3339))
	}
	return time.Duration(res[0]) * time.Millisecond, nil
}

// waitLocal reserves from the in-process share and remembers the
// reservation for the shared counters.
func (q *Quota) waitLocal(ctx context.Context) error {
	if err := q.fallback.Wait(ctx); err != nil {
		return err
	}
	q.mu.Lock()
	// The pending list only needs the day's worth of reservations.
	if len(q.pending) < q.limits.PerDay {
		q.pending = append(q.pending, q.conn.now())
	}
	q.mu.Unlock()
	return nil
}

// flushPending adds the reservations made while Redis was unreachable to
// the shared window and day counter, so the other replicas see them. It
// keeps them for a later try when Redis is still unreachable.
func (q *Quota) flushPending(ctx context.Context) {
	q.mu.Lock()
	pending := q.pending
	q.pending = nil
	q.mu.Unlock()
	if len(pending) == 0 || !q.conn.Available() {
		q.requeue(pending)
		return
	}

	now := q.conn.now()
	keys := q.keys(now)
	cutoff := now.Add(-ratelimit.Window)
	today := 0
	err := q.conn.do(ctx, func(ctx context.Context) error {
		_, err := q.conn.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, t := range pending {
				if dayKey(t) == dayKey(now) {
					today++
				}
				if t.After(cutoff) {
					p.ZAdd(ctx, keys[0], redis.Z{Score: float64(t.UnixMilli()), Member: uniqueMember(t)})
				}
			}
			p.PExpire(ctx, keys[0], 2*ratelimit.Window)
			if today > 0 {
				p.IncrBy(ctx, keys[1], int64(today))
				p.PExpire(ctx, keys[1], dayCounterTTL)
			}
			return nil
		})
		return err
	})
	if err != nil {
		q.requeue(pending)
		return
	}
	q.conn.log.Info("added requests made during the redis outage to the shared quota", "requests", today)
}

func (q *Quota) requeue(pending []time.Time) {
	if len(pending) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(pending, q.pending...)
	q.mu.Unlock()
}

// MarkExhausted records that VirusTotal reported the daily quota as spent:
// every replica then gets ErrQuotaExhausted until the next UTC day.
func (q *Quota) MarkExhausted(ctx context.Context) error {
	_ = q.fallback.MarkExhausted(ctx)
	now := q.conn.now()
	err := q.conn.do(ctx, func(ctx context.Context) error {
		return q.conn.rdb.Set(ctx, q.keys(now)[2], "1", nextReset(now).Sub(now)+time.Minute).Err()
	})
	if err != nil {
		return fmt.Errorf("mark the shared daily quota exhausted: %w", err)
	}
	return nil
}

// Status reads the shared counters, or the in-process share's while Redis
// is unreachable.
func (q *Quota) Status(ctx context.Context) (ratelimit.Status, error) {
	now := q.conn.now()
	keys := q.keys(now)
	var (
		inWindow *redis.IntCmd
		used     *redis.StringCmd
		flag     *redis.IntCmd
	)
	err := q.conn.do(ctx, func(ctx context.Context) error {
		_, err := q.conn.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			inWindow = p.ZCount(ctx, keys[0], fmt.Sprintf("(%d", now.Add(-ratelimit.Window).UnixMilli()), "+inf")
			used = p.Get(ctx, keys[1])
			flag = p.Exists(ctx, keys[2])
			return nil
		})
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ratelimit.Status{}, ctx.Err()
		}
		return q.fallback.Status(ctx)
	}
	usedToday, _ := used.Int()
	st := ratelimit.Status{
		UsedToday:    usedToday,
		PerDay:       q.limits.PerDay,
		InLastMinute: int(inWindow.Val()),
		PerMinute:    q.limits.PerMinute,
		ResetAt:      nextReset(now),
	}
	st.Exhausted = flag.Val() == 1 || st.UsedToday >= st.PerDay
	return st, nil
}

// ETA estimates how long n more requests take at the per-minute limit,
// assuming an empty window: full windows of PerMinute requests, one after
// the other. It does no I/O.
func (q *Quota) ETA(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration((n-1)/q.limits.PerMinute) * ratelimit.Window
}

// Close does nothing: the Conn is shared and closed by its owner.
func (q *Quota) Close() error { return nil }
