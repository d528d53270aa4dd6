package splunk

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// PassThrough answers splunkd like a streaming command that changes
// nothing: it replies to getinfo, then parses the CSV body of every execute
// chunk with the command's own parser and writes the same rows back. It does
// the framing, parsing and writing work of Run without enrichment, so its
// speed is the floor the vex command is measured against. It stops when in
// ends (nil), on a protocol error, or when ctx is done (ctx.Err()).
func PassThrough(ctx context.Context, in io.Reader, out io.Writer) error {
	r := NewReader(in, DefaultLimits)
	w := NewWriter(out)
	var tbl table
	var body []byte
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		m, err := decodeInbound(ch.Metadata)
		if err != nil {
			return err
		}
		if first {
			first = false
			if m.Action != "getinfo" {
				return protoErr(nil, "first chunk has action %q, want getinfo", m.Action)
			}
			if err := w.Write(getinfoReply{Type: "streaming"}, nil); err != nil {
				return err
			}
			continue
		}

		if err := tbl.parse(ch.Body, DefaultLimits.MaxRows); err != nil {
			return fmt.Errorf("pass-through: parse execute chunk: %w", err)
		}
		body = appendTable(body[:0], &tbl)
		if err := w.Write(executeReply{Finished: m.Finished}, body); err != nil {
			return err
		}
	}
}

// appendTable appends t as CSV, header first, quoting fields as Run does.
func appendTable(dst []byte, t *table) []byte {
	if len(t.header) == 0 {
		return dst
	}
	dst = appendRecord(dst, t.header)
	for i := range t.rows {
		dst = appendRecord(dst, t.row(i))
	}
	return dst
}

func appendRecord(dst []byte, fields [][]byte) []byte {
	for j, f := range fields {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = appendField(dst, f)
	}
	return append(dst, '\n')
}
