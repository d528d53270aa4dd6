package splunk

import (
	"bytes"
	"fmt"
)

// table is one chunk body parsed as CSV: a header and rows of the same
// width. Fields are slices of the body buffer, which the parser unescapes
// in place, so parsing allocates nothing once the field slice has grown.
type table struct {
	header [][]byte
	fields [][]byte // rows back to back, len(header) fields each
	rows   int
}

// row returns the fields of row i.
func (t *table) row(i int) [][]byte {
	n := len(t.header)
	return t.fields[i*n : (i+1)*n]
}

// column returns the index of the column named name, or -1.
func (t *table) column(name string) int {
	for i, h := range t.header {
		if string(h) == name {
			return i
		}
	}
	return -1
}

// parse reads body as RFC 4180 CSV as Splunk writes it: fields separated by
// commas, records ended by LF or CRLF, quoted fields that may hold commas,
// doubled quotes and newlines. Blank lines are skipped. Bytes are kept as
// they are, so values that are not UTF-8 pass through unchanged. The body is
// modified in place. An empty body is a table with no header and no rows.
func (t *table) parse(body []byte, maxRows int) error {
	t.header, t.fields, t.rows = t.header[:0], t.fields[:0], 0
	p := csvParser{buf: body}
	haveHeader := false

	for p.pos < len(p.buf) {
		if p.skipBlankLine() {
			continue
		}
		start := len(t.fields)
		var err error
		if t.fields, err = p.record(t.fields); err != nil {
			return err
		}
		if !haveHeader {
			t.header = append(t.header[:0], t.fields[start:]...)
			t.fields = t.fields[:start]
			haveHeader = true
			continue
		}
		if got := len(t.fields) - start; got != len(t.header) {
			return protoErr(nil, "invalid CSV body: record %d has %d fields, the header has %d", t.rows+1, got, len(t.header))
		}
		t.rows++
		if t.rows > maxRows {
			return protoErr(nil, "chunk has more than %d records; lower maxresultrows in limits.conf or raise the command's limit", maxRows)
		}
	}
	return nil
}

type csvParser struct {
	buf     []byte
	pos     int
	records int
}

func (p *csvParser) skipBlankLine() bool {
	switch {
	case p.buf[p.pos] == '\n':
		p.pos++
		return true
	case p.buf[p.pos] == '\r' && p.pos+1 < len(p.buf) && p.buf[p.pos+1] == '\n':
		p.pos += 2
		return true
	}
	return false
}

// record appends the fields of the record at p.pos to dst and moves past
// its line end.
func (p *csvParser) record(dst [][]byte) ([][]byte, error) {
	p.records++
	for {
		var (
			f   []byte
			end bool
			err error
		)
		if p.pos < len(p.buf) && p.buf[p.pos] == '"' {
			f, end, err = p.quoted()
		} else {
			f, end = p.unquoted()
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, f)
		if end {
			return dst, nil
		}
	}
}

// unquoted reads a field up to a comma or a line end. A quote inside an
// unquoted field is kept as a literal character, as Splunk does.
func (p *csvParser) unquoted() (field []byte, endOfRecord bool) {
	rest := p.buf[p.pos:]
	i := 0
	for i < len(rest) && rest[i] != ',' && rest[i] != '\n' {
		i++
	}
	if i == len(rest) {
		p.pos = len(p.buf)
		return trimCR(rest), true
	}
	p.pos += i + 1
	if rest[i] == ',' {
		return rest[:i], false
	}
	return trimCR(rest[:i]), true
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// quoted reads a quoted field, removing the surrounding quotes and turning
// each doubled quote into one by moving bytes left within the buffer.
func (p *csvParser) quoted() (field []byte, endOfRecord bool, err error) {
	start := p.pos + 1
	r, w := start, start
	for {
		i := bytes.IndexByte(p.buf[r:], '"')
		if i < 0 {
			return nil, false, protoErr(nil, "invalid CSV body: record %d has a quoted field without its closing quote", p.records)
		}
		w += copy(p.buf[w:], p.buf[r:r+i])
		r += i + 1
		if r < len(p.buf) && p.buf[r] == '"' {
			p.buf[w] = '"'
			w++
			r++
			continue
		}
		break
	}
	field = p.buf[start:w]

	// After the closing quote only a separator or a line end may follow.
	switch {
	case r == len(p.buf):
		p.pos = r
		return field, true, nil
	case p.buf[r] == ',':
		p.pos = r + 1
		return field, false, nil
	case p.buf[r] == '\n':
		p.pos = r + 1
		return field, true, nil
	case p.buf[r] == '\r' && r+1 < len(p.buf) && p.buf[r+1] == '\n':
		p.pos = r + 2
		return field, true, nil
	}
	return nil, false, protoErr(nil, "invalid CSV body: record %d has %q after a closing quote", p.records, p.buf[r])
}

// appendField appends f to dst as a CSV field, quoted when it holds a
// comma, a quote, a line break or leading or trailing space.
func appendField(dst, f []byte) []byte {
	if !needsQuotes(f) {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for {
		i := bytes.IndexByte(f, '"')
		if i < 0 {
			break
		}
		dst = append(dst, f[:i+1]...)
		dst = append(dst, '"')
		f = f[i+1:]
	}
	dst = append(dst, f...)
	return append(dst, '"')
}

func appendStringField(dst []byte, s string) []byte {
	if !needsQuotesString(s) {
		return append(dst, s...)
	}
	return appendField(dst, []byte(s))
}

func needsQuotes(f []byte) bool {
	if len(f) == 0 {
		return false
	}
	if f[0] == ' ' || f[len(f)-1] == ' ' {
		return true
	}
	for _, c := range f {
		if csvSpecial[c] {
			return true
		}
	}
	return false
}

// csvSpecial marks the bytes that force a field into quotes.
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

func needsQuotesString(s string) bool {
	for i := 0; i < len(s); i++ {
		if csvSpecial[s[i]] {
			return true
		}
	}
	return len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ')
}

// String renders the table for test failure messages.
func (t *table) String() string {
	return fmt.Sprintf("table{%d columns, %d rows}", len(t.header), t.rows)
}
