package splunk

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestPassThroughEchoesRows(t *testing.T) {
	body := "_serial,src_ip,_raw\n0,1.2.3.4,\"a, \"\"quoted\"\" value\"\n1,5.6.7.8,plain\n"
	in := getinfo(t, testURI, "sk") + execute(false, body) + execute(true, "")
	var out bytes.Buffer
	if err := PassThrough(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}

	r := NewReader(&out, DefaultLimits)
	info, err := r.Next()
	if err != nil {
		t.Fatalf("read getinfo reply: %v", err)
	}
	if !strings.Contains(string(info.Metadata), `"type":"streaming"`) {
		t.Errorf("getinfo reply = %s, want type streaming", info.Metadata)
	}
	first, err := r.Next()
	if err != nil {
		t.Fatalf("read first execute reply: %v", err)
	}
	if string(first.Body) != body {
		t.Errorf("first reply body = %q, want the input rows %q", first.Body, body)
	}
	if !strings.Contains(string(first.Metadata), `"finished":false`) {
		t.Errorf("first reply metadata = %s, want finished false", first.Metadata)
	}
	last, err := r.Next()
	if err != nil {
		t.Fatalf("read last execute reply: %v", err)
	}
	if len(last.Body) != 0 || !strings.Contains(string(last.Metadata), `"finished":true`) {
		t.Errorf("last reply = %s %q, want finished true and no body", last.Metadata, last.Body)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last reply: %v, want EOF", err)
	}
}

func TestPassThroughRejectsExecuteFirst(t *testing.T) {
	err := PassThrough(context.Background(), strings.NewReader(execute(true, "a\n1\n")), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "want getinfo") {
		t.Errorf("error = %v, want a protocol error naming getinfo", err)
	}
}

// BenchmarkPassThroughFunc measures PassThrough on the 1M-event input of
// BenchmarkCommand, so the two compare directly.
func BenchmarkPassThroughFunc(b *testing.B) {
	input := benchInput(b, 20, 50_000, 10_000)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if err := PassThrough(context.Background(), bytes.NewReader(input), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
