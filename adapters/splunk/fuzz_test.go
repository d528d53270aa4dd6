package splunk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// FuzzChunkReader feeds arbitrary bytes to the chunk reader, the CSV parser
// and the whole command. None may panic or loop, and every chunk the
// reader accepts must respect the limits.
func FuzzChunkReader(f *testing.F) {
	f.Add([]byte("chunked 1.0,2,3\n{}a,b"))
	f.Add([]byte("chunked 1.0,36,12\n{\"action\":\"execute\",\"finished\":true}ip\n\"1,\n\"\"\n"))
	f.Add([]byte("chunked 1.0,99999999999,0\n"))
	f.Add([]byte("ip,__mv_ip\n\"a\nb\",$a$;$b$\n"))
	limits := Limits{MaxMetadata: 1 << 12, MaxBody: 1 << 16, MaxRows: 100}

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), limits)
		for range 64 {
			ch, err := r.Next()
			if err != nil {
				var pe *ProtocolError
				if !errors.Is(err, io.EOF) && !errors.As(err, &pe) {
					t.Fatalf("error %v is neither io.EOF nor a *ProtocolError", err)
				}
				break
			}
			if len(ch.Metadata) > limits.MaxMetadata || len(ch.Body) > limits.MaxBody {
				t.Fatalf("chunk of %d+%d bytes passed the limits", len(ch.Metadata), len(ch.Body))
			}
			var tbl table
			_ = tbl.parse(ch.Body, limits.MaxRows)
		}

		// The same bytes as a CSV body: parsed rows must survive a
		// write and a second parse unchanged.
		var tbl table
		if tbl.parse(bytes.Clone(data), limits.MaxRows) == nil && len(tbl.header) > 0 {
			checkRoundTrip(t, &tbl)
		}

		// The command must reply or fail cleanly on any input.
		var out bytes.Buffer
		_ = Run(context.Background(), bytes.NewReader(data), &out, Config{
			Limits: limits,
			Open: func(context.Context, *SearchInfo, Args) (*Backend, error) {
				return &Backend{Enricher: &fakeEngine{}}, nil
			},
		})
	})
}

func checkRoundTrip(t *testing.T, tbl *table) {
	var buf []byte
	write := func(fields [][]byte) {
		// A record of one empty field must be quoted, or it reads as a
		// blank line. The command never writes one: its rows always carry
		// the output columns.
		if len(fields) == 1 && len(fields[0]) == 0 {
			buf = append(buf, "\"\"\n"...)
			return
		}
		for i, f := range fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendField(buf, f)
		}
		buf = append(buf, '\n')
	}
	write(tbl.header)
	for i := range tbl.rows {
		write(tbl.row(i))
	}
	var again table
	if err := again.parse(buf, tbl.rows+1); err != nil {
		t.Fatalf("reparse of %q: %v", buf, err)
	}
	if again.rows != tbl.rows || len(again.header) != len(tbl.header) {
		t.Fatalf("round trip changed the shape: %d rows x %d, want %d x %d", again.rows, len(again.header), tbl.rows, len(tbl.header))
	}
	for i := range tbl.rows {
		for j, f := range tbl.row(i) {
			if !bytes.Equal(again.row(i)[j], f) {
				t.Fatalf("row %d field %d = %q after round trip, want %q", i, j, again.row(i)[j], f)
			}
		}
	}
}
