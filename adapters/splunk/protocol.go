// Package splunk implements the vex custom search command for Splunk: the
// chunked search command protocol (version 2), the CSV and multivalue
// encodings it carries, the splunkd REST calls the command needs (API key
// from storage/passwords, a KV store result cache) and the command itself.
package splunk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits bound what one chunk may claim, so a corrupt or hostile header
// cannot make the command allocate without limit.
type Limits struct {
	MaxMetadata int // bytes of JSON metadata
	MaxBody     int // bytes of CSV body
	MaxRows     int // records in one body
}

// DefaultLimits fit what splunkd sends: chunks carry at most maxresultrows
// records (50,000 unless limits.conf raises it), and Run raises MaxRows when
// getinfo announces a larger maxresultrows.
var DefaultLimits = Limits{
	MaxMetadata: 4 << 20,
	MaxBody:     256 << 20,
	MaxRows:     100_000,
}

// ProtocolError reports input that does not follow the chunked protocol.
// The command sends an error reply and stops.
type ProtocolError struct {
	Msg string
	Err error
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return "splunk protocol: " + e.Msg + ": " + e.Err.Error()
	}
	return "splunk protocol: " + e.Msg
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(err error, format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...), Err: err}
}

// Chunk is one protocol message: JSON metadata and a CSV body, both raw.
type Chunk struct {
	Metadata []byte
	Body     []byte
}

// maxHeaderLine bounds the "chunked 1.0,<m>,<b>\n" line: two 20-digit
// numbers and the prefix fit well within it.
const maxHeaderLine = 64

var headerPrefix = []byte("chunked 1.0,")

// Reader reads chunks from splunkd. The Body slice of a returned chunk is
// reused by the next call to Next.
type Reader struct {
	r      *bufio.Reader
	limits Limits
	meta   []byte
	body   []byte
}

// NewReader returns a Reader over r that rejects chunks beyond limits.
func NewReader(r io.Reader, limits Limits) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), limits: limits}
}

// SetLimits changes the limits for the chunks read after the call.
func (r *Reader) SetLimits(l Limits) { r.limits = l }

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.limits }

// Next reads one chunk. It returns io.EOF when the input ends cleanly
// between chunks, and a *ProtocolError for a malformed header, a length
// beyond the limits or a truncated chunk. Blank lines between chunks are
// skipped, because some recorders and SDKs write a newline after each chunk.
func (r *Reader) Next() (Chunk, error) {
	metaLen, bodyLen, err := r.readHeader()
	if err != nil {
		return Chunk{}, err
	}

	r.meta = grow(r.meta, metaLen)
	if n, err := io.ReadFull(r.r, r.meta); err != nil {
		return Chunk{}, protoErr(err, "truncated chunk: read %d of %d metadata bytes", n, metaLen)
	}
	r.body = grow(r.body, bodyLen)
	if n, err := io.ReadFull(r.r, r.body); err != nil {
		return Chunk{}, protoErr(err, "truncated chunk: read %d of %d body bytes", n, bodyLen)
	}
	return Chunk{Metadata: r.meta, Body: r.body}, nil
}

func (r *Reader) readHeader() (metaLen, bodyLen int, err error) {
	var line []byte
	for {
		line, err = r.readLine()
		if err != nil {
			return 0, 0, err
		}
		if len(bytes.TrimRight(line, "\r\n")) > 0 {
			break
		}
	}
	line = bytes.TrimRight(line, "\r\n")

	rest, ok := bytes.CutPrefix(line, headerPrefix)
	if !ok {
		return 0, 0, protoErr(nil, "invalid chunk header %q: want \"chunked 1.0,<metadata bytes>,<body bytes>\"", line)
	}
	m, b, ok := bytes.Cut(rest, []byte{','})
	if !ok {
		return 0, 0, protoErr(nil, "invalid chunk header %q: missing body length", line)
	}
	if metaLen, err = parseLength(m, r.limits.MaxMetadata, "metadata"); err != nil {
		return 0, 0, err
	}
	if bodyLen, err = parseLength(b, r.limits.MaxBody, "body"); err != nil {
		return 0, 0, err
	}
	return metaLen, bodyLen, nil
}

// readLine reads up to and including '\n', at most maxHeaderLine bytes.
// It returns io.EOF only when no byte at all was read.
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) == 0 {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, protoErr(nil, "truncated chunk header %q", line)
			}
			return nil, protoErr(err, "reading chunk header")
		}
		line = append(line, c)
		if c == '\n' {
			return line, nil
		}
		if len(line) > maxHeaderLine {
			return nil, protoErr(nil, "invalid chunk header starting %q: no newline within %d bytes", line[:24], maxHeaderLine)
		}
	}
}

func parseLength(b []byte, limit int, what string) (int, error) {
	if len(b) == 0 || len(b) > 19 {
		return 0, protoErr(nil, "invalid %s length %q in chunk header", what, b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, protoErr(nil, "invalid %s length %q in chunk header", what, b)
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, protoErr(err, "invalid %s length %q in chunk header", what, b)
	}
	if n > int64(limit) {
		return 0, protoErr(nil, "%s length %d exceeds the limit of %d bytes", what, n, limit)
	}
	return int(n), nil
}

// grow returns buf resized to n bytes, reusing its storage when it fits.
func grow(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

// Writer writes replies to splunkd. Each chunk is flushed whole, because
// splunkd waits for the reply before sending the next chunk.
type Writer struct {
	w *bufio.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// Write sends one chunk with meta marshalled as JSON and body as is.
func (w *Writer) Write(meta any, body []byte) error {
	m, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode reply metadata: %w", err)
	}
	w.w.WriteString("chunked 1.0,")
	w.w.WriteString(strconv.Itoa(len(m)))
	w.w.WriteByte(',')
	w.w.WriteString(strconv.Itoa(len(body)))
	w.w.WriteByte('\n')
	w.w.Write(m)
	w.w.Write(body)
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write reply to splunkd: %w", err)
	}
	return nil
}
