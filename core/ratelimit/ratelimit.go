// Package ratelimit enforces the VirusTotal per-minute request limit and the
// daily quota, shared by every vex process that uses the same ledger file.
//
// The rule is the one VirusTotal applies to an API key: no more than
// Limits.PerMinute requests in any 60 second window, and no more than
// Limits.PerDay requests per UTC day. [Ledger] keeps the counters in a SQLite
// file so the CLI, the osquery extension and the Splunk command on one host
// draw from one budget; [Memory] keeps them in the process for tests and
// single-process use. Cache hits never reach a limiter, so only HTTP requests
// are counted.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// Window is the length of the sliding window that Limits.PerMinute applies to.
const Window = 60 * time.Second

// ErrQuotaExhausted means the daily quota is spent, either counted locally or
// reported by VirusTotal through MarkExhausted. Callers stop issuing requests
// until Status.ResetAt.
var ErrQuotaExhausted = errors.New("daily VirusTotal quota exhausted")

// ErrInvalidLimits is wrapped by Open and NewMemory when a limit is not
// positive.
var ErrInvalidLimits = errors.New("invalid rate limits")

// Limits are the request budgets of one API key.
type Limits struct {
	PerMinute int // requests in any 60 s window
	PerDay    int // requests per UTC day
}

// FreeTier is the public API budget of a free VirusTotal account.
var FreeTier = Limits{PerMinute: 4, PerDay: 500}

func (l Limits) validate() error {
	if l.PerMinute < 1 || l.PerDay < 1 {
		return fmt.Errorf("%w: per_minute=%d per_day=%d, both must be at least 1", ErrInvalidLimits, l.PerMinute, l.PerDay)
	}
	return nil
}

// Options tune a limiter. The zero value uses the real clock and discards logs.
type Options struct {
	// Now returns the current time. Tests pass a fake clock.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() in that
	// case. Tests pass one that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives debug lines about waits and warnings about retries.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
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

// Limiter is called before every HTTP request. The VirusTotal client and the
// gateway depend only on this method, so a Redis-backed limiter can replace
// the SQLite one without changing callers.
type Limiter interface {
	// Wait reserves one request, blocking until the window has room. It
	// returns ErrQuotaExhausted (possibly wrapped) without waiting when the
	// day's quota is spent, and ctx.Err() when ctx ends first.
	Wait(ctx context.Context) error
}

// Quota is a Limiter that also records quota exhaustion reported by the API
// and describes its state for progress bars and `vex` status output. Ledger
// and Memory implement it.
type Quota interface {
	Limiter
	// MarkExhausted records that the API reported the daily quota as spent,
	// so every process stops until the next UTC day.
	MarkExhausted(ctx context.Context) error
	Status(ctx context.Context) (Status, error)
	// ETA estimates how long n more requests take under the per-minute
	// limit, ignoring the daily quota and requests by other processes that
	// have not happened yet.
	ETA(n int) time.Duration
	Close() error
}

// Status is a snapshot of the budget.
type Status struct {
	UsedToday    int       // requests reserved since 00:00 UTC
	PerDay       int       // the daily quota
	InLastMinute int       // requests reserved in the last 60 s
	PerMinute    int       // the per-minute limit
	Exhausted    bool      // the quota is spent or the API reported it spent
	ResetAt      time.Time // next 00:00 UTC, when the daily count restarts
}

// Remaining returns the requests left today.
func (s Status) Remaining() int {
	if s.Exhausted || s.UsedToday >= s.PerDay {
		return 0
	}
	return s.PerDay - s.UsedToday
}

// dayKey names the UTC day t falls in; ledger rows are keyed by it.
func dayKey(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// nextReset returns the start of the UTC day after t.
func nextReset(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// budget is the state one reservation decision is made from. Both
// implementations load it, call decide, and store the outcome, so the rule
// lives in one place.
type budget struct {
	window    []int64 // reservation times (Unix ms) still inside the window, any order
	usedToday int
	exhausted bool
}

// decide returns (0, nil) when a request may be sent at now. Otherwise it returns
// ErrQuotaExhausted, or a positive wait after which a slot in the window frees.
//
// A reservation at time t occupies the window until t+Window, so a send is
// allowed when fewer than PerMinute reservations lie in (now-Window, now].
// Reservations stamped after now (another process read a slightly later
// clock, or this clock stepped back) also count, which errs on the safe side.
func decide(l Limits, b budget, now time.Time) (time.Duration, error) {
	if b.exhausted || b.usedToday >= l.PerDay {
		return 0, ErrQuotaExhausted
	}
	nowMS := now.UnixMilli()
	cutoff := nowMS - Window.Milliseconds()
	var live []int64
	for _, at := range b.window {
		if at > cutoff {
			live = append(live, at)
		}
	}
	if len(live) < l.PerMinute {
		return 0, nil
	}
	// The slot frees when enough of the oldest reservations leave the window
	// that fewer than PerMinute remain.
	sort.Slice(live, func(i, j int) bool { return live[i] < live[j] })
	return slotWait(live[len(live)-l.PerMinute], nowMS), nil
}

// slotWait is the wait until a full window has room, given the time of the
// reservation whose departure frees the slot: the (live-PerMinute+1)-th
// oldest of the live ones.
func slotWait(freeingMS, nowMS int64) time.Duration {
	wait := time.Duration(freeingMS+Window.Milliseconds()-nowMS) * time.Millisecond
	// A clock stepped far back would give a wait of hours; waiting a window
	// and deciding again keeps Wait responsive without breaking the limit.
	return min(max(wait, time.Millisecond), Window)
}

// eta simulates n sends starting at now, each as early as the window allows.
func eta(l Limits, window []int64, now time.Time, n int) time.Duration {
	if n <= 0 || l.PerMinute < 1 {
		return 0
	}
	nowMS := now.UnixMilli()
	w := Window.Milliseconds()
	var times []int64
	for _, at := range window {
		if at > nowMS-w {
			times = append(times, at)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })

	// After the simulated sends the k-th send (counting from the oldest
	// live reservation) can only happen once the send PerMinute before it
	// has left the window.
	last := nowMS
	for range n {
		at := nowMS
		if len(times) >= l.PerMinute {
			at = max(at, times[len(times)-l.PerMinute]+w)
		}
		times = append(times, at)
		last = at
	}
	return time.Duration(last-nowMS) * time.Millisecond
}
