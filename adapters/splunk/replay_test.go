package splunk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/internal/fixtures"
)

// recording is one splunkd-to-command transcript, with the command's
// arguments replaced by `field=<f>`.
type recording struct {
	name   string
	input  []byte  // the rewritten stream for vex
	chunks []Chunk // the execute chunks, copied
	output []byte  // the recorded command's replies, when present
	field  string
}

// loadRecordings reads every *.input and *.gz transcript under the Splunk
// fixtures folder.
func loadRecordings(t testing.TB) []recording {
	t.Helper()
	dir := fixtures.Dir(t, "splunk", "recordings")
	var recs []recording
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".input") || strings.HasSuffix(path, ".gz")) {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		rec, err := rewriteRecording(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rec.name, _ = filepath.Rel(dir, path)
		if out, err := os.ReadFile(strings.TrimSuffix(path, ".input") + ".output"); err == nil && strings.HasSuffix(path, ".input") {
			rec.output = out
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatalf("no recordings under %s", dir)
	}
	return recs
}

// rewriteRecording replaces the recorded command's arguments with
// field=<first column not starting with "_"> and re-frames the getinfo
// chunk; execute chunks are kept byte for byte.
func rewriteRecording(raw []byte) (recording, error) {
	var rec recording
	rd := NewReader(bytes.NewReader(raw), DefaultLimits)
	var out bytes.Buffer
	var getinfo map[string]any
	for i := 0; ; i++ {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rec, err
		}
		if i == 0 {
			if err := json.Unmarshal(ch.Metadata, &getinfo); err != nil {
				return rec, err
			}
			continue
		}
		if rec.field == "" {
			var tbl table
			if err := tbl.parse(append([]byte(nil), ch.Body...), 1<<30); err != nil {
				return rec, err
			}
			for _, h := range tbl.header {
				if !bytes.HasPrefix(h, []byte("_")) {
					rec.field = string(h)
					break
				}
			}
		}
		rec.chunks = append(rec.chunks, Chunk{Metadata: bytes.Clone(ch.Metadata), Body: bytes.Clone(ch.Body)})
	}
	if rec.field == "" {
		return rec, errors.New("no field to enrich in the recording")
	}

	info, _ := getinfo["searchinfo"].(map[string]any)
	info["args"] = []string{"field=" + rec.field}
	meta, err := json.Marshal(getinfo)
	if err != nil {
		return rec, err
	}
	out.WriteString(frame(string(meta), ""))
	for _, ch := range rec.chunks {
		fmt.Fprintf(&out, "chunked 1.0,%d,%d\n", len(ch.Metadata), len(ch.Body))
		out.Write(ch.Metadata)
		out.Write(ch.Body)
	}
	rec.input = out.Bytes()
	return rec, nil
}

func TestReplayRecordings(t *testing.T) {
	for _, rec := range loadRecordings(t) {
		t.Run(rec.name, func(t *testing.T) {
			replies, err := runCommand(t, string(rec.input), &fakeEngine{}, nil)
			if err != nil {
				t.Fatalf("Run = %v, want a clean exit at end of input", err)
			}
			checkReplay(t, rec, replies)
		})
	}
}

// checkReplay checks the replies of a replayed search: one per chunk,
// finished echoed, rows in order with every input column unchanged and the
// output fields on every row.
func checkReplay(t *testing.T, rec recording, replies []reply) {
	t.Helper()
	if len(replies) != 1+len(rec.chunks) {
		t.Fatalf("got %d replies, want 1 + %d execute chunks", len(replies), len(rec.chunks))
	}
	if replies[0].meta["type"] != "stateful" {
		t.Errorf("getinfo reply = %v", replies[0].meta)
	}
	rows := 0
	for i, ch := range rec.chunks {
		var m inbound
		if err := json.Unmarshal(ch.Metadata, &m); err != nil {
			t.Fatal(err)
		}
		got := replies[i+1]
		if got.meta["finished"] != m.Finished {
			t.Errorf("chunk %d: finished = %v, want %v", i, got.meta["finished"], m.Finished)
		}
		if got.meta["error"] != nil {
			t.Errorf("chunk %d: error reply %v", i, got.meta["error"])
		}

		var in table
		if err := in.parse(bytes.Clone(ch.Body), 1<<30); err != nil {
			t.Fatal(err)
		}
		if len(got.rows) != in.rows {
			t.Fatalf("chunk %d: %d rows, want %d", i, len(got.rows), in.rows)
		}
		rows += in.rows
		if len(in.header) == 0 {
			continue
		}
		for _, f := range outputFields {
			if got.col("vt_"+f) < 0 {
				t.Errorf("chunk %d: no vt_%s column", i, f)
			}
		}
		for r := range in.rows {
			for c, h := range in.header {
				if want, have := string(in.row(r)[c]), got.value(t, r, string(h)); want != have {
					t.Fatalf("chunk %d row %d: %s = %q, want %q unchanged", i, r, h, have, want)
				}
			}
			if v := string(in.row(r)[in.column(rec.field)]); v != "" && got.value(t, r, "vt_status") == "" {
				t.Errorf("chunk %d row %d: %s=%q has no vt_status", i, r, rec.field, v)
			}
		}
	}
	t.Logf("%d chunks, %d rows", len(rec.chunks), rows)

	if rec.output != nil {
		compareRecordedOutput(t, rec, replies)
	}
}

// compareRecordedOutput checks the replies against the recorded command's
// hand-edited output: the same number of replies, finished flags and row
// counts, and the same _serial and _chunked_idx on each row. Other fields
// differ because that command computed its own.
func compareRecordedOutput(t *testing.T, rec recording, replies []reply) {
	t.Helper()
	want := readReplies(t, rec.output)
	if len(want) != len(replies) {
		t.Fatalf("got %d replies, the recording has %d", len(replies), len(want))
	}
	for i := 1; i < len(want); i++ {
		if replies[i].meta["finished"] != want[i].meta["finished"] {
			t.Errorf("reply %d: finished = %v, recorded %v", i, replies[i].meta["finished"], want[i].meta["finished"])
		}
		if len(want[i].rows) != len(replies[i].rows) {
			t.Errorf("reply %d: %d rows, recorded %d", i, len(replies[i].rows), len(want[i].rows))
			continue
		}
		for _, key := range []string{"_serial", "_chunked_idx", "_time"} {
			if want[i].col(key) < 0 {
				continue
			}
			for r := range want[i].rows {
				if got, w := replies[i].value(t, r, key), want[i].value(t, r, key); got != w {
					t.Errorf("reply %d row %d: %s = %q, recorded %q", i, r, key, got, w)
				}
			}
		}
	}
}
