package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vex-ioc/vex/core/ratelimit"
)

func ExampleMemory_ETA() {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	q, err := ratelimit.NewMemory(ratelimit.FreeTier, ratelimit.Options{Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 4 {
		if err := q.Wait(context.Background()); err != nil {
			fmt.Println(err)
			return
		}
	}
	// The window is full, so the next request waits a minute and the
	// fifth after it two minutes.
	fmt.Println(q.ETA(1), q.ETA(5))
	// Output: 1m0s 2m0s
}
