package report

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
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
	lines := strings.Split(s, "\r")
	final := lines[len(lines)-1]
	if !strings.Contains(final, "90/90 100%") {
		t.Errorf("final draw %q lacks 90/90 100%%", final)
	}
	if !strings.Contains(final, "10 malicious, 10 suspicious") {
		t.Errorf("final draw %q lacks the flagged counts", final)
	}
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("progress output should end with exactly one newline, got %q", s[max(0, len(s)-40):])
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
