package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/vex-ioc/vex/core/ioc"
)

// maxInputLine bounds one input line. A longer line is skipped and reported
// with its line number instead of growing memory without limit.
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
	// skipped lists the lines that were too long to read, e.g. "iocs.txt:3".
	skipped []string
}

// check opens every named file once before the run, so a typo in the last
// -f fails at once instead of after the lookups of the inputs before it
// have spent quota.
func (s *inputSource) check() error {
	for _, name := range s.files {
		if name == "-" {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return &ExitError{Code: ExitIOError, Err: fmt.Errorf("read IOC file: %w", err)}
		}
		f.Close()
	}
	return nil
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
	r, err := textReader(r, name)
	if err != nil {
		s.err = err
		return false
	}
	ok, err := scanInputs(r, yield, func(line int) {
		s.skipped = append(s.skipped, fmt.Sprintf("%s:%d", displayName(name), line))
	})
	if err != nil {
		s.err = fmt.Errorf("read %s: %w", displayName(name), err)
	}
	return ok && err == nil
}

// textReader returns r as UTF-8 text. A list that starts with a UTF-16 byte
// order mark, as Windows PowerShell's Out-File writes it, is decoded. Any
// other input with a NUL byte in its first block is refused as binary: read
// line by line it would be thousands of garbage inputs. Only the bytes the
// first read returns are checked, so a pipe that delivers lines one by one
// is not held up.
func textReader(r io.Reader, name string) (io.Reader, error) {
	text, head := decodeUTF16(r)
	if isUTF16(head) {
		return text, nil
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return nil, fmt.Errorf("read %s: a binary file (a NUL byte at offset %d), not a list of IOCs; to find indicators in it, run vex extract on it and triage the result",
			displayName(name), i)
	}
	return text, nil
}

// textOf is decodeUTF16 without the first bytes.
func textOf(r io.Reader) io.Reader {
	text, _ := decodeUTF16(r)
	return text
}

// isUTF16 reports whether head starts with a UTF-16 byte order mark.
func isUTF16(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff})
}

// decodeUTF16 returns r as UTF-8 when it starts with a UTF-16 byte order
// mark, and r's bytes unchanged otherwise, with the bytes of the first read
// for further checks. Free-text readers (extract, watchlist import) use it
// alone, because they take any bytes, binary included.
func decodeUTF16(r io.Reader) (io.Reader, []byte) {
	br := bufio.NewReaderSize(r, 8*1024)
	if _, err := br.Peek(1); err != nil {
		return br, nil // empty or failing: the reader reports it
	}
	head, _ := br.Peek(br.Buffered())
	if isUTF16(head) {
		return transform.NewReader(br, unicode.BOMOverride(unicode.UTF8.NewDecoder())), head
	}
	return br, head
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// scanInputs yields the inputs of r. It reports false when yield asked to
// stop. A line longer than maxInputLine is skipped and passed to tooLong
// with its number, so one bad line does not stop a batch. tooLong may be
// nil.
func scanInputs(r io.Reader, yield func(string) bool, tooLong func(line int)) (bool, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var buf []byte
	for line := 1; ; line++ {
		raw, long, err := readLine(br, &buf)
		if long {
			if tooLong != nil {
				tooLong(line)
			}
		} else if !yieldLine(raw, line, yield) {
			return false, nil
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// readLine reads one line into *buf, without its end of line. long reports a
// line over maxInputLine, whose bytes are read and dropped. err is io.EOF
// after the last line.
func readLine(br *bufio.Reader, buf *[]byte) (line []byte, long bool, err error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(*buf)+len(chunk) > maxInputLine+2 { // +2 for CRLF
				long = true
				*buf = (*buf)[:0]
			} else {
				*buf = append(*buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(*buf) == 0 && !long {
			return nil, false, io.EOF
		}
		return *buf, long, err
	}
}

// yieldLine yields the inputs of one line: the line itself when it is a
// single token, else the indicators extracted from it.
func yieldLine(raw []byte, line int, yield func(string) bool) bool {
	text := strings.TrimSpace(string(raw))
	if line == 1 {
		text = strings.TrimPrefix(text, "\ufeff")
	}
	if text == "" || strings.HasPrefix(text, "#") {
		return true
	}
	if !strings.ContainsAny(text, " \t,;|\"'") {
		return yield(text)
	}
	matches, err := ioc.ExtractString(text, ioc.ExtractOptions{Invalid: true, MaxLineBytes: maxInputLine + 2})
	if err != nil {
		return true // cannot happen: the line is within the limit
	}
	for _, m := range matches {
		in := m.IOC.Input
		if m.Invalid != nil {
			in = m.Invalid.Input
		}
		if !yield(in) {
			return false
		}
	}
	return true
}
