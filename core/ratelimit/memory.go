package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is a Quota held in this process only. It applies the same rule as
// Ledger, but other processes do not see its counters, so use it for tests,
// for one-shot tools and as the fallback when the ledger cannot be opened.
type Memory struct {
	limits Limits
	opts   Options

	mu        sync.Mutex
	window    []int64 // reservation times (Unix ms) inside the window
	day       string  // UTC day that used and exhausted refer to
	used      int
	exhausted bool
}

var _ Quota = (*Memory)(nil)

// NewMemory returns an in-process limiter with limits l.
func NewMemory(l Limits, opts Options) (*Memory, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	return &Memory{limits: l, opts: opts.withDefaults()}, nil
}

// Wait reserves one request; see Limiter.
func (m *Memory) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, err := m.reserve()
		if err != nil {
			return err
		}
		if wait == 0 {
			return nil
		}
		m.opts.Logger.DebugContext(ctx, "rate limit window full, waiting", "wait", wait, "per_minute", m.limits.PerMinute)
		if err := m.opts.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (m *Memory) reserve() (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	b := m.budgetAt(now)
	m.window = b.window

	wait, err := decide(m.limits, b, now)
	if err != nil {
		return 0, quotaError(err, b, m.limits, now)
	}
	if wait == 0 {
		m.window = append(m.window, now.UnixMilli())
		m.used++
	}
	return wait, nil
}

// budgetAt rolls the day over and drops reservations that left the window.
// The caller holds m.mu.
func (m *Memory) budgetAt(now time.Time) budget {
	if day := dayKey(now); day != m.day {
		m.day, m.used, m.exhausted = day, 0, false
	}
	nowMS := now.UnixMilli()
	cutoff := nowMS - Window.Milliseconds()
	live := m.window[:0]
	for _, at := range m.window {
		if at <= cutoff {
			continue
		}
		// The same clock-step-back rule as the ledger.
		if at > nowMS+Window.Milliseconds() {
			at = nowMS
		}
		live = append(live, at)
	}
	return budget{window: live, usedToday: m.used, exhausted: m.exhausted}
}

// MarkExhausted records that VirusTotal reported the daily quota as spent.
func (m *Memory) MarkExhausted(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budgetAt(m.opts.Now())
	m.exhausted = true
	return nil
}

// Status returns the current counters.
func (m *Memory) Status(context.Context) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	b := m.budgetAt(now)
	m.window = b.window
	return statusOf(m.limits, b, now), nil
}

// ETA estimates how long n more requests take; see Quota.
func (m *Memory) ETA(n int) time.Duration {
	m.mu.Lock()
	window := append([]int64(nil), m.window...)
	m.mu.Unlock()
	return eta(m.limits, window, m.opts.Now(), n)
}

// Close does nothing; Memory holds no resources.
func (m *Memory) Close() error { return nil }
