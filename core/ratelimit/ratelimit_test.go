package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose Sleep advances time instead of waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) options() Options { return Options{Now: c.Now, Sleep: c.Sleep} }

var start = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// factories builds each implementation, so every behaviour test runs on both.
var factories = []struct {
	name string
	open func(t *testing.T, l Limits, o Options) Quota
}{
	{"memory", func(t *testing.T, l Limits, o Options) Quota {
		m, err := NewMemory(l, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}},
	{"ledger", func(t *testing.T, l Limits, o Options) Quota {
		return mustOpen(t, filepath.Join(t.TempDir(), "ledger.db"), l, o)
	}},
}

func mustOpen(t *testing.T, path string, l Limits, o Options) *Ledger {
	t.Helper()
	ld, err := Open(context.Background(), path, l, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { ld.Close() })
	return ld
}

func TestWaitSpacesRequestsByWindow(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(start)
			q := f.open(t, Limits{PerMinute: 4, PerDay: 500}, clock.options())
			var got []time.Duration
			for range 10 {
				if err := q.Wait(context.Background()); err != nil {
					t.Fatalf("Wait: %v", err)
				}
				got = append(got, clock.Now().Sub(start))
			}
			want := []time.Duration{0, 0, 0, 0, 60 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second, 120 * time.Second, 120 * time.Second}
			if len(got) != len(want) {
				t.Fatalf("got %d send times, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("send %d at %v, want %v (all: %v)", i, got[i], want[i], got)
				}
			}
		})
	}
}

func TestWaitSlidingWindow(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(start)
			q := f.open(t, Limits{PerMinute: 4, PerDay: 500}, clock.options())
			ctx := context.Background()
			// Sends at 0, 10, 20 and 30 s fill the window; the fifth may go
			// when the first leaves it at 60 s and the sixth at 70 s.
			for i := range 4 {
				if err := q.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				if i < 3 {
					clock.Advance(10 * time.Second)
				}
			}
			for _, want := range []time.Duration{60 * time.Second, 70 * time.Second} {
				if err := q.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				if got := clock.Now().Sub(start); got != want {
					t.Errorf("send at %v, want %v", got, want)
				}
			}
			st, err := q.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.InLastMinute != 4 || st.UsedToday != 6 {
				t.Errorf("Status = %+v, want 4 in the last minute and 6 today", st)
			}
		})
	}
}

func TestWaitDailyQuota(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(time.Date(2026, 3, 10, 23, 58, 0, 0, time.UTC))
			q := f.open(t, Limits{PerMinute: 10, PerDay: 3}, clock.options())
			ctx := context.Background()
			for range 3 {
				if err := q.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			before := clock.Now()
			err := q.Wait(ctx)
			if !errors.Is(err, ErrQuotaExhausted) {
				t.Fatalf("fourth Wait = %v, want ErrQuotaExhausted", err)
			}
			if !strings.Contains(err.Error(), "2026-03-11T00:00:00Z") {
				t.Errorf("error %q does not name the reset time", err)
			}
			if !clock.Now().Equal(before) {
				t.Errorf("Wait slept %v before reporting the quota", clock.Now().Sub(before))
			}
			st, err := q.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Exhausted || st.Remaining() != 0 || st.UsedToday != 3 || !st.ResetAt.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("Status = %+v", st)
			}

			// The next UTC day has a fresh quota.
			clock.Advance(2 * time.Minute)
			if err := q.Wait(ctx); err != nil {
				t.Fatalf("Wait on the next day: %v", err)
			}
			st, _ = q.Status(ctx)
			if st.UsedToday != 1 || st.Exhausted {
				t.Errorf("Status on the next day = %+v", st)
			}
		})
	}
}

func TestMarkExhausted(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(start)
			q := f.open(t, FreeTier, clock.options())
			ctx := context.Background()
			if err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := q.MarkExhausted(ctx); err != nil {
				t.Fatal(err)
			}
			err := q.Wait(ctx)
			if !errors.Is(err, ErrQuotaExhausted) || !strings.Contains(err.Error(), "VirusTotal reported") {
				t.Fatalf("Wait after MarkExhausted = %v", err)
			}
			clock.Advance(24 * time.Hour)
			if err := q.Wait(ctx); err != nil {
				t.Fatalf("Wait a day later: %v", err)
			}
		})
	}
}

func TestWaitCancelled(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			// A frozen clock with the real Sleep: the window never frees, so
			// only the context can end the wait.
			q := f.open(t, Limits{PerMinute: 1, PerDay: 10}, Options{Now: func() time.Time { return start }})
			if err := q.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			begin := time.Now()
			err := q.Wait(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
			}
			if el := time.Since(begin); el > 5*time.Second {
				t.Errorf("Wait returned %v after the deadline", el)
			}
			st, _ := q.Status(context.Background())
			if st.UsedToday != 1 {
				t.Errorf("a cancelled Wait reserved a request: UsedToday = %d", st.UsedToday)
			}

			cancelled, cancelNow := context.WithCancel(context.Background())
			cancelNow()
			if err := q.Wait(cancelled); !errors.Is(err, context.Canceled) {
				t.Errorf("Wait on a cancelled context = %v", err)
			}
		})
	}
}

func TestETA(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(start)
			q := f.open(t, Limits{PerMinute: 4, PerDay: 500}, clock.options())
			cases := []struct {
				n    int
				want time.Duration
			}{{0, 0}, {1, 0}, {4, 0}, {5, time.Minute}, {8, time.Minute}, {9, 2 * time.Minute}}
			for _, c := range cases {
				if got := q.ETA(c.n); got != c.want {
					t.Errorf("fresh ETA(%d) = %v, want %v", c.n, got, c.want)
				}
			}
			for range 2 {
				if err := q.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(15 * time.Second)
			// Two slots are taken until 60 s after start, 45 s from now.
			if got, want := q.ETA(3), 45*time.Second; got != want {
				t.Errorf("ETA(3) with 2 in the window = %v, want %v", got, want)
			}
		})
	}
}

func TestClockSteppedBack(t *testing.T) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock(start)
			q := f.open(t, Limits{PerMinute: 1, PerDay: 500}, clock.options())
			ctx := context.Background()
			if err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(-time.Hour)
			before := clock.Now()
			if err := q.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if waited := clock.Now().Sub(before); waited > 2*Window {
				t.Errorf("waited %v after the clock stepped back, want at most %v", waited, 2*Window)
			}
		})
	}
}

func TestInvalidLimits(t *testing.T) {
	for _, l := range []Limits{{0, 500}, {4, 0}, {-1, -1}} {
		if _, err := NewMemory(l, Options{}); !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("NewMemory(%+v) = %v, want ErrInvalidLimits", l, err)
		}
		if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "l.db"), l, Options{}); !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidLimits", l, err)
		}
	}
}

func TestLedgerSharedBetweenHandles(t *testing.T) {
	clock := newFakeClock(start)
	path := filepath.Join(t.TempDir(), "ledger.db")
	a := mustOpen(t, path, Limits{PerMinute: 2, PerDay: 3}, clock.options())
	b := mustOpen(t, path, Limits{PerMinute: 2, PerDay: 3}, clock.options())
	ctx := context.Background()
	for _, q := range []*Ledger{a, b} {
		if err := q.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The window is full across both handles, so a's next send waits.
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clock.Now().Sub(start); got != Window {
		t.Errorf("third send at %v, want %v", got, Window)
	}
	if err := b.Wait(ctx); !errors.Is(err, ErrQuotaExhausted) {
		t.Errorf("fourth send across handles = %v, want ErrQuotaExhausted", err)
	}

	// Reopening keeps the counts: the ledger is the record of spent quota.
	a.Close()
	c := mustOpen(t, path, Limits{PerMinute: 2, PerDay: 3}, clock.options())
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UsedToday != 3 {
		t.Errorf("UsedToday after reopen = %d, want 3", st.UsedToday)
	}
}

// TestETASeesOtherHandles checks that a handle's ETA counts reservations
// another process made, although a reservation reads no times to decide.
func TestETASeesOtherHandles(t *testing.T) {
	clock := newFakeClock(start)
	path := filepath.Join(t.TempDir(), "ledger.db")
	limits := Limits{PerMinute: 4, PerDay: 500}
	a := mustOpen(t, path, limits, clock.options())
	b := mustOpen(t, path, limits, clock.options())
	ctx := context.Background()
	for range 2 {
		if err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Second)
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The window holds a's two and b's one: b's first send after the next
	// waits for a's first to leave, 58 s from now.
	if got, want := b.ETA(2), 58*time.Second; got != want {
		t.Errorf("b.ETA(2) = %v, want %v", got, want)
	}
	// a learns of b's reservation on its next one, 2 s later, and the
	// window is then full.
	clock.Advance(2 * time.Second)
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := a.ETA(1), 56*time.Second; got != want {
		t.Errorf("a.ETA(1) = %v, want %v", got, want)
	}
}

func TestLedgerPrunesOldRows(t *testing.T) {
	clock := newFakeClock(start)
	path := filepath.Join(t.TempDir(), "ledger.db")
	ld := mustOpen(t, path, Limits{PerMinute: 5, PerDay: 1000}, clock.options())
	ctx := context.Background()
	for day := range 10 {
		for range 5 {
			if err := ld.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(24*time.Hour + time.Duration(day)*time.Second)
	}
	if err := ld.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var sends, days int
	if err := ld.db.QueryRow("SELECT count(*) FROM sends").Scan(&sends); err != nil {
		t.Fatal(err)
	}
	if err := ld.db.QueryRow("SELECT count(*) FROM days").Scan(&days); err != nil {
		t.Fatal(err)
	}
	if sends != 1 {
		t.Errorf("sends rows = %d, want 1 (only the last minute)", sends)
	}
	if days > keepDays+1 {
		t.Errorf("days rows = %d, want at most %d", days, keepDays+1)
	}
}

func TestOpenCorruptLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not sqlite\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, FreeTier, Options{})
	if !errors.Is(err, ErrLedger) {
		t.Fatalf("Open(corrupt) = %v, want ErrLedger", err)
	}
	for _, want := range []string{path, "not a valid SQLite database", "move it aside"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "this is not sqlite") {
		t.Error("Open modified the corrupt ledger file")
	}

	q, err := OpenOrMemory(context.Background(), path, FreeTier, Options{})
	if err == nil || q == nil {
		t.Fatalf("OpenOrMemory(corrupt) = %v, %v; want a Memory and a warning", q, err)
	}
	if _, ok := q.(*Memory); !ok {
		t.Errorf("OpenOrMemory fallback is %T, want *Memory", q)
	}
	if err := q.Wait(context.Background()); err != nil {
		t.Errorf("fallback Wait: %v", err)
	}
}

func TestOpenUnwritableLocation(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), filepath.Join(notDir, "ledger.db"), FreeTier, Options{})
	if !errors.Is(err, ErrLedger) {
		t.Fatalf("Open under a regular file = %v, want ErrLedger", err)
	}

	if os.Geteuid() == 0 {
		t.Skip("running as root, which ignores directory permissions")
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), filepath.Join(ro, "ledger.db"), FreeTier, Options{})
	if !errors.Is(err, ErrLedger) || !strings.Contains(err.Error(), "writable") {
		t.Fatalf("Open in a read-only directory = %v, want ErrLedger naming writability", err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ld := mustOpen(t, path, FreeTier, Options{})
	if _, err := ld.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	ld.Close()
	_, err := Open(context.Background(), path, FreeTier, Options{})
	if !errors.Is(err, ErrLedger) || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("Open(newer schema) = %v", err)
	}
}

func TestDSNEscapesPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd?name#100%")
	path := filepath.Join(dir, "ledger.db")
	ld := mustOpen(t, path, FreeTier, Options{})
	if err := ld.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("ledger not created at the literal path: %v", err)
	}
}

func TestWaitRetriesLockedLedger(t *testing.T) {
	old := busyTimeout
	busyTimeout = 50 * time.Millisecond
	t.Cleanup(func() { busyTimeout = old })

	path := filepath.Join(t.TempDir(), "ledger.db")
	ld := mustOpen(t, path, FreeTier, Options{})

	// Another connection holds the write lock, as a process stuck in a
	// long reservation would, and lets go after 400 ms.
	holder, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO sends (at_ms) VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(400 * time.Millisecond)
		close(released)
		tx.Rollback()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ld.Wait(ctx); err != nil {
		t.Fatalf("Wait on a ledger locked for 400 ms = %v, want success after the lock is released", err)
	}
	select {
	case <-released:
	default:
		t.Error("Wait returned before the lock was released")
	}
}
