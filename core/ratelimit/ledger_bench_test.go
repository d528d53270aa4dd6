package ratelimit

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLedgerWait measures one reservation with a given number of
// earlier reservations still inside the window, as a premium key or the
// single-instance gateway sees at a high per-minute limit.
func BenchmarkLedgerWait(b *testing.B) {
	for _, live := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			clock := newFakeClock(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
			l, err := Open(context.Background(), filepath.Join(b.TempDir(), "ledger.db"),
				Limits{PerMinute: 1 << 30, PerDay: 1 << 30}, clock.options())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			// Reservations 1 ms apart keep the window at live entries once
			// live of them have been made, as long as live < 60,000.
			step := time.Millisecond
			ctx := context.Background()
			for range live {
				clock.Advance(step)
				if err := l.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// Keep the window at live entries: advance by the window
				// divided by live, so one entry leaves per entry added.
				clock.Advance(Window / time.Duration(live))
				if err := l.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
