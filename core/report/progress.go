package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// Progress draws a one-line progress bar with counts and an ETA, redrawn in
// place with a carriage return. It is meant for stderr on a terminal. When
// stdout is the same terminal, the caller wraps every result it writes in
// Pause and Resume, so the result does not land on the bar's line. A
// disabled Progress writes nothing at all, and every method is safe for
// concurrent use and on a nil *Progress.
type Progress struct {
	mu         sync.Mutex
	w          io.Writer
	enabled    bool
	total      int
	done       int
	malicious  int
	suspicious int
	eta        func(remaining int) time.Duration
	start      time.Time
	lastDraw   time.Time
	// visible is true while the bar is on the terminal line, so Pause and
	// Done know whether there is a line to erase.
	visible  bool
	paused   bool
	finished bool
	now      func() time.Time

	// every is set for a heartbeat (see NewHeartbeat): the interval of its
	// plain status lines. stop ends its goroutine.
	every    time.Duration
	lastBeat time.Time
	stop     chan struct{}
}

// progressInterval limits redraws, so a batch served from the cache does not
// spend its time writing to the terminal.
const progressInterval = 100 * time.Millisecond

// progressBarWidth is the width of the bar itself. It keeps the whole line
// under 80 columns.
const progressBarWidth = 24

// NewProgress returns a progress bar over total results that writes to w
// only when enabled. A total of 0 or less means unknown, and the line then
// shows only the count so far. eta returns the time the remaining lookups
// need, for example from the rate limit. When eta is nil or returns 0, the
// bar extrapolates from the pace so far.
func NewProgress(w io.Writer, total int, enabled bool, eta func(remaining int) time.Duration) *Progress {
	return &Progress{w: w, total: total, enabled: enabled && w != nil, eta: eta, now: time.Now, start: time.Now()}
}

// NewHeartbeat returns a Progress for a stderr that is no terminal, such as a
// cron job's log. Instead of a bar it writes a plain status line every
// interval, the first after one interval, so a run that waits on the rate
// limit for minutes does not look hung. A run shorter than one interval
// writes nothing. Done stops it.
func NewHeartbeat(w io.Writer, total int, every time.Duration, eta func(remaining int) time.Duration) *Progress {
	p := &Progress{w: w, total: total, eta: eta, now: time.Now, start: time.Now(), every: every, stop: make(chan struct{})}
	if w == nil || every <= 0 {
		return p
	}
	go func() {
		t := time.NewTicker(every / 4)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.beat()
			}
		}
	}()
	return p
}

// beat writes the heartbeat line when an interval has passed since the
// start and since the last line.
func (p *Progress) beat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished || p.every <= 0 {
		return
	}
	now := p.now()
	if now.Sub(p.start) < p.every || now.Sub(p.lastBeat) < p.every {
		return
	}
	p.lastBeat = now
	line := fmt.Sprintf("vex: %d IOCs answered after %s", p.done, now.Sub(p.start).Round(time.Second))
	if p.total > 0 {
		line = fmt.Sprintf("vex: %d of %d IOCs answered after %s", p.done, max(p.total, p.done), now.Sub(p.start).Round(time.Second))
	}
	if p.malicious > 0 || p.suspicious > 0 {
		line += fmt.Sprintf(", %d malicious, %d suspicious", p.malicious, p.suspicious)
	}
	if remaining := p.total - p.done; remaining > 0 {
		if d := p.remainingTime(now, remaining); d > 0 {
			line += "; about " + formatETA(d) + " to go at the rate limit"
		}
	}
	fmt.Fprintln(p.w, line)
}

// Add counts one finished result and, unless the bar is paused, redraws it
// at most every 100 ms.
func (p *Progress) Add(r enrich.Result) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	p.done++
	switch r.Verdict {
	case verdict.Malicious:
		p.malicious++
	case verdict.Suspicious:
		p.suspicious++
	}
	if p.paused {
		return
	}
	p.redraw()
}

// Pause erases the bar from its line and keeps it off the screen until
// Resume, so the caller can write a result to the same terminal. Add still
// counts while the bar is paused.
func (p *Progress) Pause() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	p.erase()
}

// Resume ends a Pause and draws the bar again below what was written
// meanwhile. Within 100 ms of the last draw it leaves the line empty, and
// the next Add or Resume after that draws it, so a fast batch does not
// spend its time redrawing.
func (p *Progress) Resume() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	p.redraw()
}

// Done erases the bar, so the results and later stderr output are all that
// stays on the screen. Calls after the first do nothing, and Add, Pause and
// Resume draw nothing after it.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	if p.stop != nil && !p.finished {
		close(p.stop)
	}
	p.finished = true
}

// redraw draws the bar while p.mu is held, at most every progressInterval
// unless the last result is in.
func (p *Progress) redraw() {
	if !p.enabled || p.finished {
		return
	}
	now := p.now()
	if p.done != p.total && now.Sub(p.lastDraw) < progressInterval {
		return
	}
	p.lastDraw = now
	p.draw(now)
}

// erase clears the line the bar is on while p.mu is held. The cursor ends
// at the start of the empty line, where the next output begins.
func (p *Progress) erase() {
	if !p.enabled || p.finished || !p.visible {
		return
	}
	fmt.Fprint(p.w, "\r"+eraseLine)
	p.visible = false
}

// draw writes the bar line while p.mu is held. Write errors are ignored because a
// broken stderr must not stop the batch.
func (p *Progress) draw(now time.Time) {
	// Without a known total (IOCs read from a stream) there is no bar or
	// ETA, only the count so far.
	line := fmt.Sprintf("\r%d done", p.done)
	if p.total > 0 {
		total := max(p.total, p.done)
		filled := p.done * progressBarWidth / total
		bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressBarWidth-filled)
		line = fmt.Sprintf("\r[%s] %d/%d %3d%%", bar, p.done, total, p.done*100/total)
	}
	if p.malicious > 0 || p.suspicious > 0 {
		line += fmt.Sprintf("  %d malicious, %d suspicious", p.malicious, p.suspicious)
	}
	if remaining := p.total - p.done; remaining > 0 {
		line += "  ETA " + formatETA(p.remainingTime(now, remaining))
	}
	// Erasing after the text clears what a longer previous line left to
	// the right.
	fmt.Fprint(p.w, line+eraseLine)
	p.visible = true
}

// eraseLine is the ANSI sequence ESC [ K, which erases from the cursor to
// the end of the line.
const eraseLine = "\x1b[K"

// remainingTime prefers the eta callback, which is computed from the rate limit. The
// callback returns 0 when the remaining requests fit in the current
// per-minute window, or when there is no limit, and the time they take is
// then best estimated from the pace so far.
func (p *Progress) remainingTime(now time.Time, remaining int) time.Duration {
	if p.eta != nil {
		if d := p.eta(remaining); d > 0 {
			return d
		}
	}
	if p.done == 0 {
		return 0
	}
	return now.Sub(p.start) / time.Duration(p.done) * time.Duration(remaining)
}

// formatETA rounds d to whole seconds, and to minutes above an hour.
func formatETA(d time.Duration) string {
	if d <= 0 {
		return "--"
	}
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}
