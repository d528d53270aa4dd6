package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// frame builds one protocol chunk.
func frame(meta, body string) string {
	return fmt.Sprintf("chunked 1.0,%d,%d\n%s%s", len(meta), len(body), meta, body)
}

// getinfo builds a getinfo chunk with the given command arguments.
func getinfo(t testing.TB, splunkdURI, sessionKey string, args ...string) string {
	t.Helper()
	meta, err := json.Marshal(map[string]any{
		"action": "getinfo", "preview": false,
		"searchinfo": map[string]any{
			"args": args, "app": "search", "sid": "1700000000.1", "owner": "admin", "username": "admin",
			"splunkd_uri": splunkdURI, "session_key": sessionKey, "splunk_version": "9.3.0", "maxresultrows": 50000,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return frame(string(meta), "")
}

func execute(finished bool, body string) string {
	return frame(fmt.Sprintf(`{"action":"execute","finished":%t}`, finished), body)
}

// reply is one decoded chunk the command wrote.
type reply struct {
	meta   map[string]any
	header []string
	rows   [][]string
}

func (r reply) col(name string) int {
	for i, h := range r.header {
		if h == name {
			return i
		}
	}
	return -1
}

// value returns the named field of row i, failing the test when the column
// is missing.
func (r reply) value(t testing.TB, i int, name string) string {
	t.Helper()
	c := r.col(name)
	if c < 0 {
		t.Fatalf("reply has no column %q; header %q", name, r.header)
	}
	return r.rows[i][c]
}

// readReplies decodes everything the command wrote. Any byte that is not
// part of a chunk fails the test, because it would break the search.
func readReplies(t testing.TB, out []byte) []reply {
	t.Helper()
	rd := NewReader(bytes.NewReader(out), DefaultLimits)
	var replies []reply
	for {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return replies
		}
		if err != nil {
			t.Fatalf("command output is not a clean chunk stream after %d replies: %v", len(replies), err)
		}
		var r reply
		if err := json.Unmarshal(ch.Metadata, &r.meta); err != nil {
			t.Fatalf("reply %d metadata %q: %v", len(replies), ch.Metadata, err)
		}
		var tbl table
		if err := tbl.parse(append([]byte(nil), ch.Body...), 1<<30); err != nil {
			t.Fatalf("reply %d body: %v", len(replies), err)
		}
		for _, h := range tbl.header {
			r.header = append(r.header, string(h))
		}
		for i := range tbl.rows {
			var row []string
			for _, f := range tbl.row(i) {
				row = append(row, string(f))
			}
			r.rows = append(r.rows, row)
		}
		replies = append(replies, r)
	}
}

// fakeEngine answers every lookup from a rule on the input, and records
// what it was asked.
type fakeEngine struct {
	mu      sync.Mutex
	calls   [][]string
	lookups map[string]int
	status  enrich.Status // when set, every result gets this status
	block   bool          // wait for ctx to end before answering
}

func (f *fakeEngine) Batch(ctx context.Context, inputs []string, req enrich.Request, emit func(int, enrich.Result)) enrich.BatchStats {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), inputs...))
	if f.lookups == nil {
		f.lookups = make(map[string]int)
	}
	for _, in := range inputs {
		f.lookups[in]++
	}
	f.mu.Unlock()

	if f.block {
		<-ctx.Done()
	}
	for i, in := range inputs {
		emit(i, f.result(ctx, in, req))
	}
	return enrich.BatchStats{Inputs: len(inputs), Distinct: len(inputs)}
}

func (f *fakeEngine) result(ctx context.Context, in string, req enrich.Request) enrich.Result {
	r := enrich.Result{Input: in, Mode: req.Mode, Source: enrich.SourceAPI}
	if ctx.Err() != nil {
		r.Status, r.Source, r.Error = enrich.StatusCancelled, enrich.SourceNone, "cancelled"
		return r
	}
	i, err := ioc.Parse(in)
	if err != nil {
		r.Status, r.Source, r.Error = enrich.StatusInvalid, enrich.SourceNone, err.Error()
		return r
	}
	r.Type, r.Normalized = i.Type, i.Value
	if f.status != "" {
		r.Status, r.Source, r.Error = f.status, enrich.SourceNone, "not looked up: "+string(f.status)
		return r
	}
	r.Status = enrich.StatusOK
	r.Stats = verdict.Stats{Harmless: 60, Undetected: 10}
	r.Verdict = verdict.Clean
	r.Engines = 70
	r.FetchedAt = time.Unix(1_700_000_000, 0)
	r.Permalink = "https://www.virustotal.com/gui/search/" + i.Value
	if strings.HasSuffix(i.Value, ".66") {
		r.Stats.Malicious = 5
		r.Verdict = verdict.Malicious
		r.Summary.Tags = []string{"botnet", "c2 $server"}
		r.Summary.ThreatLabel = "trojan.evil"
	}
	return r
}

func (f *fakeEngine) count(in string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[in]
}

// runCommand runs the command over input with the fake engine and returns
// the replies and Run's error.
func runCommand(t testing.TB, input string, eng *fakeEngine, shared SharedCache) ([]reply, error) {
	t.Helper()
	var out bytes.Buffer
	err := runWith(input, &out, eng, shared)
	return readReplies(t, out.Bytes()), err
}

// runTo runs the command with a fresh fake engine and writes its output
// to out.
func runTo(t testing.TB, input string, out io.Writer) error {
	t.Helper()
	return runWith(input, out, &fakeEngine{}, nil)
}

func runWith(input string, out io.Writer, eng *fakeEngine, shared SharedCache) error {
	cfg := Config{
		Open: func(ctx context.Context, info *SearchInfo, args Args) (*Backend, error) {
			b := &Backend{Enricher: eng}
			if args.KVStore && shared != nil {
				b.Shared = shared
			}
			return b, nil
		},
		Now: func() time.Time { return time.Unix(1_700_000_100, 0) },
	}
	return Run(context.Background(), strings.NewReader(input), out, cfg)
}
