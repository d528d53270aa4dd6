package ratelimit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The cross-process test re-executes this test binary as helper processes
// that share one ledger file. They run on a clock that is 600 times faster
// than real time and derived from one shared origin, so every process reads
// the same fake time and a 60 s window passes in 100 ms.
const (
	helperEnv   = "VEX_RATELIMIT_HELPER"
	clockSpeed  = 600
	helperLimit = 4  // per minute
	helperQuota = 22 // per day
	helperTries = 15 // per process
)

func TestLedgerTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	origin := time.Now().Add(200 * time.Millisecond)

	var wg sync.WaitGroup
	outputs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i := range outputs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(),
			helperEnv+"=1",
			"VEX_RATELIMIT_LEDGER="+path,
			"VEX_RATELIMIT_ORIGIN="+strconv.FormatInt(origin.UnixNano(), 10),
		)
		cmd.Stdout = &outputs[i]
		cmd.Stderr = &outputs[i]
		wg.Go(func() { errs[i] = cmd.Run() })
	}
	wg.Wait()

	var sends []int64
	quotaErrors := 0
	for i := range outputs {
		if errs[i] != nil {
			t.Fatalf("helper %d failed: %v\n%s", i, errs[i], outputs[i].String())
		}
		own := 0
		sc := bufio.NewScanner(&outputs[i])
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "sent "):
				at, err := strconv.ParseInt(strings.TrimPrefix(line, "sent "), 10, 64)
				if err != nil {
					t.Fatalf("helper %d: bad line %q", i, line)
				}
				sends = append(sends, at)
				own++
			case line == "quota":
				quotaErrors++
			}
		}
		t.Logf("helper %d sent %d requests", i, own)
	}

	if len(sends) != helperQuota {
		t.Errorf("processes sent %d requests together, want exactly the daily quota %d", len(sends), helperQuota)
	}
	if want := 2*helperTries - helperQuota; quotaErrors != want {
		t.Errorf("%d Wait calls returned ErrQuotaExhausted, want %d", quotaErrors, want)
	}
	// No window of 60 s may hold more than helperLimit sends: any
	// helperLimit+1 consecutive sends must span at least the window.
	slices.Sort(sends)
	for i := 0; i+helperLimit < len(sends); i++ {
		if span := sends[i+helperLimit] - sends[i]; span < Window.Milliseconds() {
			t.Errorf("sends %d..%d span %d ms: %d requests in less than a window", i, i+helperLimit, span, helperLimit+1)
		}
	}
}

// TestLedgerHelperProcess is the child side of TestLedgerTwoProcesses.
func TestLedgerHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestLedgerTwoProcesses")
	}
	originNS, err := strconv.ParseInt(os.Getenv("VEX_RATELIMIT_ORIGIN"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Unix(0, originNS)
	base := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

	// The ledger reads the clock once per attempt, after taking the lock,
	// and records that reading; so the last reading before a successful
	// Wait is the reservation time.
	var last atomic.Int64
	now := func() time.Time {
		fake := base.Add(time.Since(origin) * clockSpeed)
		last.Store(fake.UnixMilli())
		return fake
	}
	sleep := func(ctx context.Context, d time.Duration) error {
		return sleepContext(ctx, d/clockSpeed+time.Microsecond)
	}
	time.Sleep(time.Until(origin))

	ld, err := Open(context.Background(), os.Getenv("VEX_RATELIMIT_LEDGER"), Limits{PerMinute: helperLimit, PerDay: helperQuota}, Options{Now: now, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	for range helperTries {
		err := ld.Wait(context.Background())
		switch {
		case err == nil:
			fmt.Printf("sent %d\n", last.Load())
		case errors.Is(err, ErrQuotaExhausted):
			fmt.Println("quota")
		default:
			t.Fatal(err)
		}
	}
}
