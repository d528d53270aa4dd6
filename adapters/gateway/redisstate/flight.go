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
)

// unlockScript deletes the lock only if this holder still owns it, stores
// the holder's note for the waiters, and wakes them. A holder whose lock
// expired and was taken over must not delete the new holder's lock.
//
// KEYS: lock, note. ARGV: token, note ("" for none), note TTL ms, channel,
// waiter key.
var unlockScript = redis.NewScript(`
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[3]))
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// refreshScript extends the lock only while this holder owns it.
var refreshScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
`)

// Defaults of FlightOptions.
const (
	DefaultLockTTL = 15 * time.Second
	DefaultNoteTTL = 10 * time.Second
	// pollInterval is how often a waiter checks the lock when no release
	// message arrives: Redis pub/sub drops messages while a subscriber
	// reconnects, so the waiter cannot rely on them alone.
	pollInterval = 200 * time.Millisecond
)

// FlightOptions configure a Flight.
type FlightOptions struct {
	// LockTTL is how long a lock outlives a holder that stopped renewing
	// it, for example a replica that crashed. Waiters take over after it.
	// The holder renews the lock every LockTTL/3. Default DefaultLockTTL.
	LockTTL time.Duration
	// NoteTTL is how long the holder's note stays readable for waiters
	// that wake late. Default DefaultNoteTTL.
	NoteTTL time.Duration
}

// Flight is a fetch lock per key shared by every replica, so that one
// replica sends the upstream request for an object while the others wait.
// The waiters then read the result from the shared cache, or from the
// short-lived note the holder leaves when the result is not cacheable (an
// error).
// Waiters learn of a release through one pub/sub subscription per Flight,
// with polling as a backstop.
type Flight struct {
	conn *Conn
	opts FlightOptions

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	sub     *redis.PubSub
	closed  bool
}

// NewFlight returns the shared fetch lock on conn. Close stops its
// subscription.
func NewFlight(conn *Conn, opts FlightOptions) *Flight {
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	if opts.NoteTTL <= 0 {
		opts.NoteTTL = DefaultNoteTTL
	}
	return &Flight{conn: conn, opts: opts, waiters: map[string]map[chan struct{}]struct{}{}}
}

func (f *Flight) channel() string           { return f.conn.Key("released") }
func (f *Flight) lockKey(key string) string { return f.conn.Key("lock:" + key) }
func (f *Flight) noteKey(key string) string { return f.conn.Key("note:" + key) }

// TryLock takes the lock for key. held is false when another replica holds
// it. When held, the caller must call unlock exactly once with the note for
// the waiters (nil when the result is in the cache). An error means Redis
// is unreachable and no lock is held.
func (f *Flight) TryLock(ctx context.Context, key string) (unlock func(note []byte), held bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	lock := f.lockKey(key)

	err = f.conn.do(ctx, func(ctx context.Context) error {
		var err error
		held, err = f.conn.rdb.SetNX(ctx, lock, token, f.opts.LockTTL).Result()
		return err
	})
	if err != nil || !held {
		return nil, false, err
	}
	// A note left by an earlier holder describes an older attempt.
	_ = f.conn.do(ctx, func(ctx context.Context) error { return f.conn.rdb.Del(ctx, f.noteKey(key)).Err() })

	// Renew the lock while the holder works, so a slow upstream call that
	// waits for the rate limit does not let a second replica in.
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(f.opts.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = f.conn.do(rctx, func(ctx context.Context) error {
					return refreshScript.Run(ctx, f.conn.rdb, []string{lock}, token, f.opts.LockTTL.Milliseconds()).Err()
				})
				cancel()
			}
		}
	}()

	var once sync.Once
	unlock = func(note []byte) {
		once.Do(func() {
			close(stop)
			<-renewed
			// The request that took the lock may be over; the release
			// still has to reach Redis.
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := f.conn.do(uctx, func(ctx context.Context) error {
				return unlockScript.Run(ctx, f.conn.rdb, []string{lock, f.noteKey(key)},
					token, string(note), f.opts.NoteTTL.Milliseconds(), f.channel(), key).Err()
			})
			if err != nil {
				f.conn.log.Debug("release fetch lock; it expires on its own", "error", err)
			}
		})
	}
	return unlock, true, nil
}

// Wait blocks until the lock for key is free, then returns the note its
// last holder left, or nil when there is none (the result went to the
// cache, or the holder vanished and its lock expired). It returns ctx.Err()
// when ctx ends and an error wrapping ErrUnavailable when Redis fails.
func (f *Flight) Wait(ctx context.Context, key string) ([]byte, error) {
	wake, err := f.register(ctx, key)
	if err != nil {
		return nil, err
	}
	defer f.unregister(key, wake)

	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		var locked int64
		err := f.conn.do(ctx, func(ctx context.Context) error {
			var err error
			locked, err = f.conn.rdb.Exists(ctx, f.lockKey(key)).Result()
			return err
		})
		if err != nil {
			return nil, err
		}
		if locked == 0 {
			return f.note(ctx, key)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
	}
}

func (f *Flight) note(ctx context.Context, key string) ([]byte, error) {
	var note []byte
	err := f.conn.do(ctx, func(ctx context.Context) error {
		var err error
		note, err = f.conn.rdb.Get(ctx, f.noteKey(key)).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return note, err
}

// register adds a waiter for key and starts the subscription on first use.
func (f *Flight) register(ctx context.Context, key string) (chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("%w: fetch lock closed", ErrUnavailable)
	}
	if f.sub == nil {
		f.sub = f.conn.rdb.Subscribe(context.WithoutCancel(ctx), f.channel())
		go f.dispatch(f.sub.Channel())
	}
	wake := make(chan struct{}, 1)
	if f.waiters[key] == nil {
		f.waiters[key] = map[chan struct{}]struct{}{}
	}
	f.waiters[key][wake] = struct{}{}
	return wake, nil
}

func (f *Flight) unregister(key string, wake chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.waiters[key], wake)
	if len(f.waiters[key]) == 0 {
		delete(f.waiters, key)
	}
}

// dispatch wakes the local waiters of each released key.
func (f *Flight) dispatch(msgs <-chan *redis.Message) {
	for m := range msgs {
		f.mu.Lock()
		for wake := range f.waiters[m.Payload] {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		f.mu.Unlock()
	}
}

// Close ends the subscription. Waiters still blocked return when their ctx
// ends or by polling.
func (f *Flight) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.sub != nil {
		return f.sub.Close()
	}
	return nil
}
