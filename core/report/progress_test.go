package report

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// lockedBuffer is a bytes.Buffer that a test reads while goroutines write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// addConcurrently adds every sample result n times from several goroutines.
func addConcurrently(p *Progress, n int) {
	var wg sync.WaitGroup
	for range n {
		for _, r := range sampleResults() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Add(r)
			}()
		}
	}
	wg.Wait()
}

func TestProgressDisabledWritesNothing(t *testing.T) {
	var out lockedBuffer
	p := NewProgress(&out, 90, false, nil)
	addConcurrently(p, 10)
	p.Done()

	if s := out.String(); s != "" {
		t.Errorf("disabled progress wrote %q", s)
	}
}

func TestProgressConcurrentAdds(t *testing.T) {
	var out lockedBuffer
	eta := func(remaining int) time.Duration { return time.Duration(remaining) * 15 * time.Second }
	p := NewProgress(&out, 90, true, eta)
	addConcurrently(p, 10)
	p.Done()
	p.Done()

	s := out.String()
	// The last part is the erase that Done writes, so the final draw is
	// the one before it.
	lines := strings.Split(s, "\r")
	final := lines[len(lines)-2]
	if !strings.Contains(final, "90/90 100%") {
		t.Errorf("final draw %q lacks 90/90 100%%", final)
	}
	if !strings.Contains(final, "10 malicious, 10 suspicious") {
		t.Errorf("final draw %q lacks the flagged counts", final)
	}
	if !strings.HasSuffix(s, "\r\x1b[K") || strings.Count(s, "\n") != 0 {
		t.Errorf("progress output should end with an erased line and contain no newline, got %q", s[max(0, len(s)-40):])
	}
}

func TestProgressETA(t *testing.T) {
	var out lockedBuffer
	p := NewProgress(&out, 10, true, func(remaining int) time.Duration { return time.Duration(remaining) * 15 * time.Second })
	p.Add(enrich.Result{})

	if s := out.String(); !strings.Contains(s, "1/10") || !strings.Contains(s, "ETA 2m15s") {
		t.Errorf("first draw = %q, want 1/10 and ETA 2m15s", s)
	}
}

func TestProgressThrottlesRedraws(t *testing.T) {
	var out lockedBuffer
	p := NewProgress(&out, 1000, true, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	for range 999 {
		p.Add(enrich.Result{})
	}

	if draws := strings.Count(out.String(), "\r"); draws != 1 {
		t.Errorf("999 adds within one instant drew %d times, want 1", draws)
	}
	p.Add(enrich.Result{})
	if !strings.Contains(out.String(), "1000/1000") {
		t.Error("the last result was not drawn")
	}
}

func TestProgressNilIsSafe(t *testing.T) {
	var p *Progress
	p.Add(enrich.Result{})
	p.Done()
}

func TestProgressUnknownTotal(t *testing.T) {
	var out lockedBuffer
	p := NewProgress(&out, 0, true, nil)
	p.now = steppingClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Second)
	p.Add(enrich.Result{})
	p.Add(enrich.Result{})
	p.Done()

	s := out.String()
	if !strings.Contains(s, "2 done") {
		t.Errorf("progress without a total = %q, want the count 2 done", s)
	}
	if strings.Contains(s, "ETA") || strings.Contains(s, "[") && strings.Contains(s, "%") {
		t.Errorf("progress without a total drew a bar or ETA: %q", s)
	}
}

// renderTerminal replays s the way a terminal shows it: a carriage return
// moves to the start of the line, ESC [ K erases from the cursor to the end
// of the line, and a newline starts the next line. It returns the lines
// left on the screen.
func renderTerminal(s string) []string {
	lines := []string{""}
	col := 0
	for i := 0; i < len(s); i++ {
		cur := &lines[len(lines)-1]
		switch {
		case s[i] == '\r':
			col = 0
		case s[i] == '\n':
			lines = append(lines, "")
			col = 0
		case strings.HasPrefix(s[i:], "\x1b[K"):
			*cur = (*cur)[:col]
			i += len("\x1b[K") - 1
		default:
			if col < len(*cur) {
				*cur = (*cur)[:col] + string(s[i]) + (*cur)[col+1:]
			} else {
				*cur += string(s[i])
			}
			col++
		}
	}
	return lines
}

// steppingClock returns a clock that moves step forward on every call.
func steppingClock(start time.Time, step time.Duration) func() time.Time {
	now := start
	return func() time.Time {
		now = now.Add(step)
		return now
	}
}

func TestProgressPauseKeepsResultsClean(t *testing.T) {
	// One buffer plays the terminal that shows both stderr (the
	// bar) and stdout (the results).
	var term lockedBuffer
	p := NewProgress(&term, 6, true, nil)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = steppingClock(start, time.Second)
	p.start = start

	var want []string
	for i := 1; i <= 6; i++ {
		line := fmt.Sprintf("CLEAN       ipv4    41.0.0.%d", i)
		want = append(want, line)
		p.Pause()
		p.Add(enrich.Result{})
		fmt.Fprintln(&term, line)
		p.Resume()
	}
	if !strings.Contains(term.String(), "/6") {
		t.Fatalf("the bar was never drawn: %q", term.String())
	}
	p.Done()

	screen := renderTerminal(term.String())
	if got := screen[:len(screen)-1]; !slices.Equal(got, want) {
		t.Errorf("screen lines = %q, want the results alone %q", got, want)
	}
	if last := screen[len(screen)-1]; last != "" {
		t.Errorf("line left after Done = %q, want it erased", last)
	}
}

func TestProgressBarVisibleBetweenResults(t *testing.T) {
	var term lockedBuffer
	p := NewProgress(&term, 3, true, nil)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = steppingClock(start, time.Second)
	p.start = start

	p.Pause()
	p.Add(enrich.Result{})
	fmt.Fprintln(&term, "CLEAN       ipv4    41.0.0.1")
	p.Resume()

	screen := renderTerminal(term.String())
	if got := screen[len(screen)-1]; !strings.Contains(got, "1/3") {
		t.Errorf("line under the first result = %q, want the bar at 1/3", got)
	}
}

func TestProgressDoneErasesBar(t *testing.T) {
	var term lockedBuffer
	p := NewProgress(&term, 2, true, nil)
	p.Add(enrich.Result{})
	p.Add(enrich.Result{})
	if !strings.Contains(term.String(), "2/2 100%") {
		t.Fatalf("the last result was not drawn: %q", term.String())
	}
	p.Done()
	p.Done()

	s := term.String()
	if !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("output after Done ends with %q, want an erased line", s[max(0, len(s)-20):])
	}
	if strings.Contains(s, "\n") {
		t.Errorf("progress wrote a newline, which leaves the bar on the screen: %q", s)
	}
	if screen := renderTerminal(s); len(screen) != 1 || screen[0] != "" {
		t.Errorf("screen after Done = %q, want it empty", screen)
	}
}

func TestProgressPauseThrottlesRedraws(t *testing.T) {
	var term lockedBuffer
	p := NewProgress(&term, 1000, true, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	for range 999 {
		p.Pause()
		p.Add(enrich.Result{})
		p.Resume()
	}

	if draws := strings.Count(term.String(), "] "); draws != 1 {
		t.Errorf("999 results within one instant drew the bar %d times, want 1", draws)
	}
	p.Pause()
	p.Add(enrich.Result{})
	p.Resume()
	if !strings.Contains(term.String(), "1000/1000") {
		t.Error("the last result was not drawn")
	}
}

func TestProgressETAFallsBackToPace(t *testing.T) {
	var term lockedBuffer
	// A ledger whose per-minute window has room for every remaining
	// request returns 0, which must not hide the estimate.
	p := NewProgress(&term, 6, true, func(int) time.Duration { return 0 })
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = steppingClock(start, 2*time.Second)
	p.start = start
	p.Add(enrich.Result{})

	if s := term.String(); !strings.Contains(s, "ETA 10s") {
		t.Errorf("draw after 1 of 6 in 2s = %q, want ETA 10s from the pace", s)
	}
}

// TestHeartbeat checks the status lines written for a stderr that is no
// terminal: nothing during the first interval,
// then one line per interval with the counts and the time to go.
func TestHeartbeat(t *testing.T) {
	var out lockedBuffer
	p := NewHeartbeat(&out, 10, 30*time.Second, func(remaining int) time.Duration { return time.Duration(remaining) * 15 * time.Second })
	defer p.Done()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	p.mu.Lock()
	p.start, p.now = start, func() time.Time { return now }
	p.mu.Unlock()

	p.Add(enrich.Result{Verdict: verdict.Malicious})
	now = start.Add(29 * time.Second)
	p.beat()
	if s := out.String(); s != "" {
		t.Fatalf("wrote %q within the first interval, want nothing", s)
	}
	now = start.Add(31 * time.Second)
	p.beat()
	p.beat()
	want := "vex: 1 of 10 IOCs answered after 31s, 1 malicious, 0 suspicious; about 2m15s to go at the rate limit\n"
	if s := out.String(); s != want {
		t.Fatalf("after 31 s wrote %q, want %q", s, want)
	}
	now = start.Add(62 * time.Second)
	p.beat()
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("%d lines after 62 s, want 2:\n%s", n, out.String())
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("heartbeat wrote terminal controls: %q", out.String())
	}
	p.Done()
	now = start.Add(200 * time.Second)
	p.beat()
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("a line after Done")
	}
}
