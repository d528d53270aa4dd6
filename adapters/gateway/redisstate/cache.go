package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vex-ioc/vex/core/cache"
)

// Cache is a cache.Store in Redis shared by every gateway replica. Each
// entry is a hash holding the status, the fetch and expiry times in Unix
// milliseconds and the raw VirusTotal JSON. Redis deletes an entry MaxStale
// after it expired, so Get can still return it as stale until then.
type Cache struct {
	conn *Conn
	opts cache.Options
}

var _ cache.Store = (*Cache)(nil)

// Hash fields of a cache entry.
const (
	fieldStatus  = "s"
	fieldFetched = "f"
	fieldExpires = "e"
	fieldData    = "d"
)

// NewCache returns a cache on conn. Zero durations in opts take the
// defaults of package cache; opts.Now and opts.Logger are not used because
// the Conn has its own.
func NewCache(conn *Conn, opts cache.Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = cache.DefaultTTL
	}
	if opts.NotFoundTTL <= 0 {
		opts.NotFoundTTL = cache.DefaultNotFoundTTL
	}
	if opts.PartialTTL <= 0 {
		opts.PartialTTL = cache.DefaultPartialTTL
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = cache.DefaultMaxStale
	}
	return &Cache{conn: conn, opts: opts}
}

func (c *Cache) ttl(status string) time.Duration {
	switch status {
	case cache.StatusNotFound:
		return c.opts.NotFoundTTL
	case cache.StatusPartial:
		return c.opts.PartialTTL
	}
	return c.opts.TTL
}

func (c *Cache) key(k cache.Key) string { return c.conn.Key("c:" + k.String()) }

// unavailable wraps a Redis failure so callers that test for
// cache.ErrUnavailable degrade to no cache.
func unavailable(action string, k cache.Key, err error) error {
	return fmt.Errorf("%w: %s %s: %w", cache.ErrUnavailable, action, k, err)
}

// Get returns the entry for k and whether it is fresh: before its expiry
// time and within the TTL configured now for its status.
func (c *Cache) Get(ctx context.Context, k cache.Key) (cache.Entry, bool, error) {
	var fields map[string]string
	err := c.conn.do(ctx, func(ctx context.Context) error {
		var err error
		fields, err = c.conn.rdb.HGetAll(ctx, c.key(k)).Result()
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return cache.Entry{}, false, ctx.Err()
		}
		return cache.Entry{}, false, unavailable("read", k, err)
	}
	if len(fields) == 0 {
		return cache.Entry{}, false, cache.ErrMiss
	}
	fetched, ferr := strconv.ParseInt(fields[fieldFetched], 10, 64)
	expires, eerr := strconv.ParseInt(fields[fieldExpires], 10, 64)
	if ferr != nil || eerr != nil {
		// Written by something else under our prefix; treat as absent so
		// the next Put replaces it.
		return cache.Entry{}, false, cache.ErrMiss
	}
	e := cache.Entry{
		Key:       k,
		Status:    fields[fieldStatus],
		Data:      []byte(fields[fieldData]),
		FetchedAt: time.UnixMilli(fetched),
		ExpiresAt: time.UnixMilli(expires),
	}
	now := c.conn.now()
	fresh := now.Before(e.ExpiresAt) && now.Before(e.FetchedAt.Add(c.ttl(e.Status)))
	return e, fresh, nil
}

// Put stores e, replacing any entry for e.Key. A zero FetchedAt means now;
// ExpiresAt is set from FetchedAt and the TTL of e.Status.
func (c *Cache) Put(ctx context.Context, e cache.Entry) error {
	if e.Mode == "" || e.Type == "" || e.Value == "" {
		return fmt.Errorf("%w: key %q has an empty field", cache.ErrInvalidEntry, e.Key.String())
	}
	switch e.Status {
	case cache.StatusOK, cache.StatusNotFound, cache.StatusPartial:
	default:
		return fmt.Errorf("%w: status %q for %s, want ok, not_found or partial", cache.ErrInvalidEntry, e.Status, e.Key)
	}
	if e.FetchedAt.IsZero() {
		e.FetchedAt = c.conn.now()
	}
	e.ExpiresAt = e.FetchedAt.Add(c.ttl(e.Status))
	// A relative expiry keeps working when this replica's clock and the
	// Redis server's disagree; Get compares ExpiresAt with this clock.
	keep := max(e.ExpiresAt.Add(c.opts.MaxStale).Sub(c.conn.now()), time.Second)
	key := c.key(e.Key)
	err := c.conn.do(ctx, func(ctx context.Context) error {
		_, err := c.conn.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			p.HSet(ctx, key,
				fieldStatus, e.Status,
				fieldFetched, e.FetchedAt.UnixMilli(),
				fieldExpires, e.ExpiresAt.UnixMilli(),
				fieldData, e.Data)
			p.PExpire(ctx, key, keep)
			return nil
		})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unavailable("write", e.Key, err)
	}
	return nil
}

// Delete removes the entry for k.
func (c *Cache) Delete(ctx context.Context, k cache.Key) error {
	err := c.conn.do(ctx, func(ctx context.Context) error { return c.conn.rdb.Del(ctx, c.key(k)).Err() })
	if err != nil {
		return unavailable("delete", k, err)
	}
	return nil
}

// scanBatch is the COUNT hint of SCAN, the keys visited per round trip.
const scanBatch = 500

// Clear deletes every cache entry under the prefix and returns how many
// there were. It scans the keyspace, so it takes time on a large database.
func (c *Cache) Clear(ctx context.Context) (int, error) {
	n := 0
	err := c.scan(ctx, func(keys []string) error {
		deleted, err := c.conn.rdb.Unlink(ctx, keys...).Result()
		n += int(deleted)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("%w: clear the redis cache: %w", cache.ErrUnavailable, err)
	}
	return n, nil
}

// Stats counts the entries by freshness and status. Bytes stays 0 because
// Redis does not report the memory of a key set cheaply.
func (c *Cache) Stats(ctx context.Context) (cache.Stats, error) {
	st := cache.Stats{Path: c.conn.Addr(), ByStatus: map[string]int{}}
	now := c.conn.now()
	err := c.scan(ctx, func(keys []string) error {
		cmds := make([]*redis.SliceCmd, len(keys))
		_, err := c.conn.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(ctx, k, fieldStatus, fieldExpires)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, cmd := range cmds {
			vals := cmd.Val()
			status, _ := vals[0].(string)
			exp, _ := vals[1].(string)
			if status == "" {
				continue
			}
			st.Entries++
			st.ByStatus[status]++
			if ms, err := strconv.ParseInt(exp, 10, 64); err == nil && now.Before(time.UnixMilli(ms)) {
				st.Fresh++
			} else {
				st.Expired++
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("%w: count the redis cache: %w", cache.ErrUnavailable, err)
	}
	return st, nil
}

// scan calls fn with each batch of cache keys.
func (c *Cache) scan(ctx context.Context, fn func(keys []string) error) error {
	return c.conn.do(ctx, func(ctx context.Context) error {
		var cursor uint64
		for {
			keys, next, err := c.conn.rdb.Scan(ctx, cursor, c.conn.Key("c:*"), scanBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}

// Close does nothing: the Conn is shared and closed by its owner.
func (c *Cache) Close() error { return nil }
