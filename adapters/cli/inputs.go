package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/vex-ioc/vex/core/ioc"
)

// maxInputLine bounds one input line. A longer line stops the run with its
// line number instead of growing memory without limit.
const maxInputLine = 1 << 20

// inputSource yields the IOC inputs of one run: command-line arguments,
// then each file, then stdin when there is neither. Each line that is a
// single token is one input, so a bad entry in a list is reported rather
// than skipped. Longer lines are free text: vex extracts the indicators in
// them, invalid candidates included. Blank lines and lines starting with #
// are skipped.
type inputSource struct {
	args  []string
	files []string // "-" is stdin
	stdin io.Reader
	// ctx, when set and done, stops the reading of stdin: a read from a
	// terminal could block until the user types another line.
	ctx context.Context
	err error // the first read error, set when the sequence ends early
}

func (s *inputSource) seq() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, a := range s.args {
			if !yield(a) {
				return
			}
		}
		for _, f := range s.files {
			if !s.readFile(f, yield) {
				return
			}
		}
	}
}

func (s *inputSource) readFile(name string, yield func(string) bool) bool {
	var r io.Reader
	if name == "-" {
		r = s.stdin
		if s.ctx != nil {
			ctx, next := s.ctx, yield
			yield = func(in string) bool { return ctx.Err() == nil && next(in) }
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			s.err = fmt.Errorf("read IOC file: %w", err)
			return false
		}
		defer f.Close()
		r = f
	}
	ok, err := scanInputs(r, yield)
	if err != nil {
		s.err = fmt.Errorf("read %s: %w", displayName(name), err)
	}
	return ok && err == nil
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// scanInputs yields the inputs of r. It reports false when yield asked to
// stop.
func scanInputs(r io.Reader, yield func(string) bool) (bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxInputLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !strings.ContainsAny(text, " \t,;|\"'") {
			if !yield(text) {
				return false, nil
			}
			continue
		}
		matches, err := ioc.ExtractString(text, ioc.ExtractOptions{Invalid: true})
		if err != nil {
			return false, fmt.Errorf("line %d: %w", line, err)
		}
		for _, m := range matches {
			in := m.IOC.Input
			if m.Invalid != nil {
				in = m.Invalid.Input
			}
			if !yield(in) {
				return false, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return false, fmt.Errorf("line %d is longer than %d bytes: split the input", line+1, maxInputLine)
		}
		return false, err
	}
	return true, nil
}
