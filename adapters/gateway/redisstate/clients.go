package redisstate

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/core/ratelimit"
)

// allowScript admits one request of a client when fewer than limit of its
// requests lie in the sliding window, and otherwise returns how long until
// a slot frees. It never waits, so a client over its rate gets a 429 at
// once.
//
// KEYS: the client's window sorted set. ARGV: now ms, window ms, limit,
// unique member. Returns 0 when admitted, else the wait in ms.
var allowScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local live = redis.call('ZCARD', KEYS[1])
if live < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local freeing = redis.call('ZRANGE', KEYS[1], live - limit, live - limit, 'WITHSCORES')
local wait = math.floor(tonumber(freeing[2]) + window - now)
if wait < 1 then wait = 1 end
return wait
`)

// ClientLimiter is the rate check of one gateway client: Allow admits a
// request, or returns how long the client must wait.
type ClientLimiter interface {
	Allow(ctx context.Context, client string, perMinute int) (retryAfter time.Duration, err error)
}

// Clients limits each gateway client to its requests per minute across
// every replica, with the same sliding window as the VirusTotal limiter.
// While Redis is unreachable each replica applies the limit on its own
// through Fallback, so a client may get up to one limit per replica.
type Clients struct {
	conn     *Conn
	fallback ClientLimiter
}

// NewClients returns the shared client limiter; fallback decides while
// Redis is unreachable.
func NewClients(conn *Conn, fallback ClientLimiter) *Clients {
	return &Clients{conn: conn, fallback: fallback}
}

// Allow admits one request of client when its window has room, and
// otherwise returns a positive retryAfter. perMinute < 1 admits everything.
func (c *Clients) Allow(ctx context.Context, client string, perMinute int) (time.Duration, error) {
	if perMinute < 1 {
		return 0, nil
	}
	now := c.conn.now()
	var wait int64
	err := c.conn.do(ctx, func(ctx context.Context) error {
		var err error
		wait, err = allowScript.Run(ctx, c.conn.rdb, []string{c.conn.Key("client:" + client)},
			now.UnixMilli(), ratelimit.Window.Milliseconds(), perMinute, uniqueMember(now)).Int64()
		return err
	})
	if errors.Is(err, ErrUnavailable) {
		return c.fallback.Allow(ctx, client, perMinute)
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(wait) * time.Millisecond, nil
}
