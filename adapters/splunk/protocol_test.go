package splunk

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderFraming(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		metas   []string
		bodies  []string
		wantErr string // substring of the error after the chunks; "" means clean EOF
	}{
		{name: "two chunks", input: "chunked 1.0,2,3\n{}a,bchunked 1.0,2,0\n{}", metas: []string{"{}", "{}"}, bodies: []string{"a,b", ""}},
		{name: "blank lines between chunks", input: "\nchunked 1.0,2,0\n{}\r\n\nchunked 1.0,2,1\n{}x\n", metas: []string{"{}", "{}"}, bodies: []string{"", "x"}},
		{name: "crlf header", input: "chunked 1.0,2,0\r\n{}", metas: []string{"{}"}, bodies: []string{""}},
		{name: "empty input", input: ""},
		{name: "wrong prefix", input: "chunked 2.0,2,0\n{}", wantErr: "invalid chunk header"},
		{name: "missing body length", input: "chunked 1.0,2\n{}", wantErr: "missing body length"},
		{name: "negative length", input: "chunked 1.0,-2,0\n{}", wantErr: "invalid metadata length"},
		{name: "length with spaces", input: "chunked 1.0, 2,0\n{}", wantErr: "invalid metadata length"},
		{name: "huge length", input: "chunked 1.0,2,99999999999999999999\n{}", wantErr: "invalid body length"},
		{name: "body over limit", input: "chunked 1.0,2,300000000\n{}", wantErr: "exceeds the limit"},
		{name: "truncated body", input: "chunked 1.0,2,10\n{}abc", wantErr: "read 3 of 10 body bytes"},
		{name: "truncated metadata", input: "chunked 1.0,20,0\n{\"a\"", wantErr: "read 4 of 20 metadata bytes"},
		{name: "truncated header", input: "chunked 1.0,2", wantErr: "truncated chunk header"},
		{name: "no newline", input: strings.Repeat("x", 200), wantErr: "no newline within"},
		{name: "body shorter than declared then next header", input: "chunked 1.0,2,5\n{}abchunked 1.0,2,0\n{}", metas: []string{"{}"}, bodies: []string{"abchu"}, wantErr: "invalid chunk header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.input), DefaultLimits)
			var metas, bodies []string
			var err error
			for {
				var ch Chunk
				ch, err = r.Next()
				if err != nil {
					break
				}
				metas = append(metas, string(ch.Metadata))
				bodies = append(bodies, string(ch.Body))
			}
			if strings.Join(metas, "|") != strings.Join(tt.metas, "|") {
				t.Errorf("metadata = %q, want %q", metas, tt.metas)
			}
			if strings.Join(bodies, "|") != strings.Join(tt.bodies, "|") {
				t.Errorf("bodies = %q, want %q", bodies, tt.bodies)
			}
			if tt.wantErr == "" {
				if !errors.Is(err, io.EOF) {
					t.Errorf("error = %v, want io.EOF", err)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *ProtocolError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriterFrame(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(executeReply{Finished: true}, []byte("a\n1\n")); err != nil {
		t.Fatal(err)
	}
	want := "chunked 1.0,17,4\n{\"finished\":true}a\n1\n"
	if buf.String() != want {
		t.Errorf("frame = %q, want %q", buf.String(), want)
	}
}

func TestTableParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		header  []string
		rows    [][]string
		wantErr string
	}{
		{name: "plain", body: "a,b\n1,2\n3,4\n", header: []string{"a", "b"}, rows: [][]string{{"1", "2"}, {"3", "4"}}},
		{name: "no final newline", body: "a,b\n1,2", header: []string{"a", "b"}, rows: [][]string{{"1", "2"}}},
		{name: "crlf", body: "a,b\r\n1,2\r\n", header: []string{"a", "b"}, rows: [][]string{{"1", "2"}}},
		{name: "quoted header", body: "\"_serial\",x\n0,y\n", header: []string{"_serial", "x"}, rows: [][]string{{"0", "y"}}},
		{name: "quoted newline and comma", body: "a,b\n\"x\ny,z\",2\n", header: []string{"a", "b"}, rows: [][]string{{"x\ny,z", "2"}}},
		{name: "quoted crlf kept", body: "a\n\"x\r\ny\"\n", header: []string{"a"}, rows: [][]string{{"x\r\ny"}}},
		{name: "doubled quotes", body: "a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n", header: []string{"a", "b"}, rows: [][]string{{"say \"hi\"", "\""}}},
		{name: "bare quote kept", body: "a\nx\"y\n", header: []string{"a"}, rows: [][]string{{"x\"y"}}},
		{name: "empty fields", body: "a,b,c\n,,\n", header: []string{"a", "b", "c"}, rows: [][]string{{"", "", ""}}},
		{name: "blank line skipped", body: "a,b\n\n1,2\n", header: []string{"a", "b"}, rows: [][]string{{"1", "2"}}},
		{name: "not utf-8", body: "a\n\xff\xfe\x80\n", header: []string{"a"}, rows: [][]string{{"\xff\xfe\x80"}}},
		{name: "header only", body: "a,\"__mv_a\"\n", header: []string{"a", "__mv_a"}},
		{name: "empty", body: ""},
		{name: "short record", body: "a,b\n1\n", wantErr: "record 1 has 1 fields, the header has 2"},
		{name: "long record", body: "a,b\n1,2,3\n", wantErr: "record 1 has 3 fields"},
		{name: "unterminated quote", body: "a\n\"abc\n", wantErr: "without its closing quote"},
		{name: "text after quote", body: "a\n\"abc\"d\n", wantErr: "after a closing quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tbl table
			err := tbl.parse([]byte(tt.body), 100)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := toStrings(tbl.header); strings.Join(got, "|") != strings.Join(tt.header, "|") || len(got) != len(tt.header) {
				t.Errorf("header = %q, want %q", got, tt.header)
			}
			if tbl.rows != len(tt.rows) {
				t.Fatalf("rows = %d, want %d", tbl.rows, len(tt.rows))
			}
			for i, want := range tt.rows {
				if got := toStrings(tbl.row(i)); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
					t.Errorf("row %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestTableRowLimit(t *testing.T) {
	body := "a\n" + strings.Repeat("1\n", 11)
	var tbl table
	err := tbl.parse([]byte(body), 10)
	if err == nil || !strings.Contains(err.Error(), "more than 10 records") {
		t.Fatalf("error = %v, want the record limit", err)
	}
}

func TestFieldQuotingRoundTrip(t *testing.T) {
	values := []string{"", "plain", "a,b", "say \"hi\"", "line\nbreak", "cr\rlf", " lead", "trail ", "\xff\x00bin", "$a$;$b$"}
	var line []byte
	for i, v := range values {
		if i > 0 {
			line = append(line, ',')
		}
		line = appendField(line, []byte(v))
	}
	// Parse the line as one record under a header of the same width.
	header := strings.TrimSuffix(strings.Repeat("h,", len(values)), ",")
	body := append([]byte(header+"\n"), line...)
	var tbl table
	if err := tbl.parse(body, 10); err != nil {
		t.Fatal(err)
	}
	got := toStrings(tbl.row(0))
	for i, v := range values {
		if got[i] != v {
			t.Errorf("field %d = %q, want %q", i, got[i], v)
		}
	}
}

func TestMultivalue(t *testing.T) {
	tests := []struct {
		cell   string
		values []string
		ok     bool
	}{
		{"$a$;$b$", []string{"a", "b"}, true},
		{"$a$", []string{"a"}, true},
		{"$$", []string{""}, true},
		{"$co$$t$;$x$", []string{"co$t", "x"}, true},
		{"$a$$$", []string{"a$"}, true},
		{"$a\nb$;$c$", []string{"a\nb", "c"}, true},
		{"", nil, false},
		{"a", nil, false},
		{"$a", nil, false},
		{"$a$;b", nil, false},
		{"$a$x", nil, false},
	}
	for _, tt := range tests {
		got, ok := splitMultivalue([]byte(tt.cell))
		if ok != tt.ok || strings.Join(got, "|") != strings.Join(tt.values, "|") || len(got) != len(tt.values) {
			t.Errorf("splitMultivalue(%q) = %q, %v; want %q, %v", tt.cell, got, ok, tt.values, tt.ok)
			continue
		}
		if ok {
			if enc := string(appendMultivalue(nil, got)); enc != tt.cell {
				t.Errorf("appendMultivalue(%q) = %q, want %q", got, enc, tt.cell)
			}
		}
	}
}

func toStrings(fields [][]byte) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = string(f)
	}
	return out
}
