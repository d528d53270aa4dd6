// Package redisstate keeps the state that replicas of the vex gateway share
// in Redis: the result cache, the deployment-wide rate limit and daily quota,
// per-client request rates and the fetch locks that let one replica look an
// object up while the others wait for its result.
//
// Every type here degrades instead of failing when Redis is unreachable: the
// cache misses, the limiters fall back to limits held in the process, and
// the fetch lock reports an error so the caller fetches without it. A
// [Conn] tracks Redis's health so that an outage costs one failed command
// per pause, not one per request.
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/vex-ioc/vex/core/secret"
)

// ErrUnavailable is wrapped by every error caused by Redis being
// unreachable or failing a command.
var ErrUnavailable = errors.New("redis unavailable")

// DefaultPrefix starts every key this package writes, so the gateway can
// share a Redis database with other software.
const DefaultPrefix = "vex:gw:"

// DefaultPause is how long a Conn skips Redis after a failed command before
// it tries again.
const DefaultPause = time.Second

// Options configure a Conn.
type Options struct {
	// Prefix starts every key (default DefaultPrefix).
	Prefix string
	// Pause is how long Redis is skipped after a failure (default
	// DefaultPause).
	Pause time.Duration
	// Now is the clock of the limiters and the cache (default time.Now).
	// Replicas compare times written by each other, so their clocks must
	// be synchronised, for example with NTP.
	Now    func() time.Time
	Logger *slog.Logger
}

// Conn is a Redis client with a health state shared by the cache, the
// limiters and the fetch locks of one gateway replica. It is safe for
// concurrent use.
type Conn struct {
	rdb    *redis.Client
	prefix string
	pause  time.Duration
	now    func() time.Time
	log    *slog.Logger
	addr   string

	mu        sync.Mutex
	down      bool
	downUntil time.Time
}

// Dial connects to the Redis server at rawURL (redis:// or rediss://) and
// checks it with PING. The URL may hold a password, so no error quotes it.
// A server that does not respond is no error: the Conn starts down, logs a
// warning and is used once Redis answers, so a replica that restarts during
// a Redis outage serves under its local limits like the replicas already
// up. A server that rejects the credentials is an error, because that
// needs a config change, not a wait.
func Dial(ctx context.Context, rawURL secret.String, opts Options) (*Conn, error) {
	ro, err := redis.ParseURL(rawURL.Reveal())
	if err != nil {
		return nil, errors.New("invalid serve.redis_url: want redis://[user:password@]host:port/db or rediss://...")
	}
	// Short timeouts and a single dial attempt, because an unreachable
	// Redis must turn into the local fallback quickly. After a failure the
	// Conn's pause keeps requests from waiting on Redis at all.
	ro.DialTimeout = time.Second
	ro.DialerRetries = 1
	ro.ReadTimeout = time.Second
	ro.WriteTimeout = time.Second
	ro.MaxRetries = 1
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c := NewConn(redis.NewClient(ro), opts)

	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = c.rdb.Ping(pctx).Err()
	switch {
	case err == nil:
		return c, nil
	case isAuthError(err):
		c.rdb.Close()
		return nil, fmt.Errorf("redis at %s rejected the credentials: %w; check the user and password in serve.redis_url", c.addr, err)
	case ctx.Err() != nil:
		c.rdb.Close()
		return nil, ctx.Err()
	}
	c.markDown(err)
	return c, nil
}

// isAuthError reports whether err is Redis's reply to a wrong or missing
// password or to a user without the rights the gateway needs.
func isAuthError(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	for _, prefix := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR AUTH"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// NewConn wraps an existing client.
func NewConn(rdb *redis.Client, opts Options) *Conn {
	c := &Conn{rdb: rdb, prefix: opts.Prefix, pause: opts.Pause, now: opts.Now, log: opts.Logger}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	if c.pause <= 0 {
		c.pause = DefaultPause
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	o := rdb.Options()
	c.addr = (&url.URL{Scheme: "redis", Host: o.Addr, Path: fmt.Sprintf("/%d", o.DB)}).String()
	return c
}

// Client returns the underlying go-redis client.
func (c *Conn) Client() *redis.Client { return c.rdb }

// Addr returns the server address as redis://host:port/db, without
// credentials, for logs and status output.
func (c *Conn) Addr() string { return c.addr }

// Key returns name with the key prefix.
func (c *Conn) Key(name string) string { return c.prefix + name }

// Available reports whether commands are being sent, that is whether no
// command failed within the last pause.
func (c *Conn) Available() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down || !c.now().Before(c.downUntil)
}

// Ping checks the server now, whatever the health state, and updates it.
// The gateway's /healthz uses it.
func (c *Conn) Ping(ctx context.Context) error {
	return c.observe(ctx, c.rdb.Ping(ctx).Err())
}

// Close closes the client.
func (c *Conn) Close() error { return c.rdb.Close() }

// do runs fn unless Redis failed within the last pause, and records the
// outcome. redis.Nil (no such key) is returned as is and counts as success.
func (c *Conn) do(ctx context.Context, fn func(ctx context.Context) error) error {
	if !c.Available() {
		return fmt.Errorf("%w: skipped after a recent failure at %s", ErrUnavailable, c.addr)
	}
	return c.observe(ctx, fn(ctx))
}

// observe records the health of one command's outcome and wraps a failure
// with ErrUnavailable. A cancelled ctx is not a Redis failure.
func (c *Conn) observe(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		c.mu.Lock()
		wasDown := c.down
		c.down = false
		c.mu.Unlock()
		if wasDown {
			c.log.Info("redis reachable again; shared state restored", "redis", c.addr)
		}
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.markDown(err)
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, c.addr, err)
}

// markDown records a failure of Redis, logging the first of an outage.
func (c *Conn) markDown(err error) {
	c.mu.Lock()
	wasDown := c.down
	c.down = true
	c.downUntil = c.now().Add(c.pause)
	c.mu.Unlock()
	if !wasDown {
		c.log.Warn("redis unavailable; using local state until it is back", "redis", c.addr, "error", err)
	}
}

// RouteLogs sends go-redis's internal log lines to logger at debug level.
// go-redis keeps one logger per process, so cmd-level wiring calls this
// once.
func RouteLogs(logger *slog.Logger) {
	redis.SetLogger(printfLogger{logger})
}

type printfLogger struct{ log *slog.Logger }

func (p printfLogger) Printf(ctx context.Context, format string, v ...any) {
	p.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
