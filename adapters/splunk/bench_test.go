package splunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchInput builds a search of chunks x rows events over distinct IPs.
func benchInput(b testing.TB, chunks, rows, distinct int) []byte {
	var in strings.Builder
	in.WriteString(getinfo(b, testURI, "sk", "field=src_ip"))
	n := 0
	for c := range chunks {
		var body strings.Builder
		body.WriteString("_serial,_time,src_ip,__mv_src_ip,host,_raw\n")
		for range rows {
			ip := n % distinct
			fmt.Fprintf(&body, "%d,1700000000,10.%d.%d.%d,,web%d,\"GET /index.html HTTP/1.1 200 from 10.%d.%d.%d\"\n",
				n, ip>>16&255, ip>>8&255, ip&255, n%7, ip>>16&255, ip>>8&255, ip&255)
			n++
		}
		in.WriteString(execute(c == chunks-1, body.String()))
	}
	return []byte(in.String())
}

// BenchmarkCommand runs 1M events with 10k distinct values through the
// command with a warm cache (the fake engine returns at once).
func BenchmarkCommand(b *testing.B) {
	input := benchInput(b, 20, 50_000, 10_000)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		err := Run(context.Background(), bytes.NewReader(input), io.Discard, Config{
			Open: func(context.Context, *SearchInfo, Args) (*Backend, error) {
				return &Backend{Enricher: &fakeEngine{}}, nil
			},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassThrough reads, parses and writes back the same chunks
// without enrichment: the floor the command is compared with.
func BenchmarkPassThrough(b *testing.B) {
	input := benchInput(b, 20, 50_000, 10_000)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(input), DefaultLimits)
		w := NewWriter(io.Discard)
		var tbl table
		var out []byte
		for {
			ch, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := tbl.parse(ch.Body, DefaultLimits.MaxRows); err != nil {
				b.Fatal(err)
			}
			out = out[:0]
			for i := range tbl.rows {
				for j, f := range tbl.row(i) {
					if j > 0 {
						out = append(out, ',')
					}
					out = appendField(out, f)
				}
				out = append(out, '\n')
			}
			if err := w.Write(executeReply{}, out); err != nil {
				b.Fatal(err)
			}
		}
	}
}
