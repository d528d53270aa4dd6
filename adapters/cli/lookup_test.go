package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/vex-ioc/vex/core/vt/vttest"
)

// terminalBuffer is one buffer that stdout and stderr both write to, as
// when both are the same terminal.
type terminalBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *terminalBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// screenLines replays s the way a terminal shows it, for carriage returns,
// ESC [ K (erase to the end of the line) and newlines, and returns the
// lines left on the screen.
func screenLines(s string) []string {
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

func TestTriageProgressSharesTerminal(t *testing.T) {
	e := newTriageEnv(t, vttest.Options{}, triageConfig{})
	iocs := []string{maliciousHash, suspiciousDom, cleanIP, unseenHash}

	var term terminalBuffer
	args := append([]string{"triage", "-o", "console", "--no-cache"}, iocs...)
	code := Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &term, Err: &term, ErrTTY: true}, Env{
		Getenv: func(k string) string { return e.env[k] },
		Home:   e.home,
	})
	out := term.buf.String()
	if code != ExitMalicious {
		t.Fatalf("exit %d, want %d; output %q", code, ExitMalicious, out)
	}
	if !strings.Contains(out, "/4") {
		t.Fatalf("no progress bar was drawn: %q", out)
	}

	screen := screenLines(out)
	for _, ioc := range iocs {
		found := false
		for _, line := range screen {
			if strings.Contains(line, ioc) {
				found = true
				if strings.Contains(line, "ETA") || strings.Contains(line, "/4") {
					t.Errorf("result line %q carries progress bar text", line)
				}
			}
		}
		if !found {
			t.Errorf("no line on the screen names %s:\n%s", ioc, strings.Join(screen, "\n"))
		}
	}
	for _, line := range screen {
		if strings.Contains(line, "/4") {
			t.Errorf("progress bar left on the screen: %q", line)
		}
	}
}
