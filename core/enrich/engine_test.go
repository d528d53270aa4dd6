package enrich

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// fakeSource answers from a map of normalised IOC to stats, counts fetches
// and fails on demand.
type fakeSource struct {
	mu      sync.Mutex
	stats   map[string]verdict.Stats
	fail    map[string]error // error for an IOC
	failAt  int              // fetch number (1-based) from which failErr is returned
	failErr error
	delay   time.Duration
	calls   atomic.Int64
	fetched []string
}

func (f *fakeSource) Name() string             { return "fake" }
func (f *fakeSource) Supports(t ioc.Type) bool { return true }

func (f *fakeSource) Fetch(ctx context.Context, i ioc.IOC, mode Mode) (Record, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	f.fetched = append(f.fetched, i.Value)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
	if f.failAt > 0 && int(n) >= f.failAt {
		return Record{}, f.failErr
	}
	if err := f.fail[i.Value]; err != nil {
		return Record{}, err
	}
	s, ok := f.stats[i.Value]
	if !ok {
		return Record{Status: RecordNotFound}, nil
	}
	b, _ := json.Marshal(s)
	return Record{Status: RecordOK, Data: b}, nil
}

func (f *fakeSource) Decode(i ioc.IOC, rec Record, r *Result) error {
	if rec.Status == RecordNotFound {
		return nil
	}
	return json.Unmarshal(rec.Data, &r.Stats)
}

func newTestEngine(src *fakeSource) *Engine {
	return New(Options{Enrichers: []Enricher{src}, Concurrency: 4})
}

var (
	bad   = verdict.Stats{Malicious: 40, Undetected: 30}
	clean = verdict.Stats{Harmless: 60, Undetected: 10}
)

func TestLookupStatuses(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad, "8.8.8.8": clean}}
	e := newTestEngine(src)
	ctx := context.Background()
	cases := []struct {
		input   string
		status  Status
		verdict verdict.Verdict
	}{
		{"evil[.]com", StatusOK, verdict.Malicious},
		{"8.8.8.8", StatusOK, verdict.Clean},
		{"not-found.com", StatusNotFound, verdict.Unknown},
		{"10.0.0.1", StatusNonRoutable, verdict.Unknown},
		{"010.1.1.1", StatusInvalid, verdict.Unknown},
	}
	for _, c := range cases {
		t.Run(c.input, func(t *testing.T) {
			r := e.Lookup(ctx, c.input, Request{})
			if r.Status != c.status || r.Verdict != c.verdict {
				t.Errorf("Lookup(%q) = status %s verdict %v (error %q), want %s %v", c.input, r.Status, r.Verdict, r.Error, c.status, c.verdict)
			}
			if r.Input != c.input {
				t.Errorf("Input = %q, want %q", r.Input, c.input)
			}
		})
	}
	if got := src.calls.Load(); got != 3 {
		t.Errorf("source calls = %d, want 3 (non-routable and invalid inputs are not looked up)", got)
	}
}

func TestStreamKeepsOrderAndDeduplicates(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad}, delay: time.Millisecond}
	e := newTestEngine(src)
	var inputs []string
	for i := range 50 {
		inputs = append(inputs, fmt.Sprintf("host%d.example.com", i%10), "EVIL.com", "evil[.]com.")
	}
	var got []int
	stats := e.Batch(context.Background(), inputs, Request{}, func(i int, r Result) {
		got = append(got, i)
		if r.Input != inputs[i] {
			t.Errorf("result %d has input %q, want %q", i, r.Input, inputs[i])
		}
	})
	if !slices.Equal(got, seq(len(inputs))) {
		t.Errorf("emit order = %v", got)
	}
	if n := src.calls.Load(); n != 11 {
		t.Errorf("source calls = %d, want 11 distinct", n)
	}
	if stats.Inputs != 150 || stats.Distinct+stats.Duplicates != 150 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestStreamStopsOnQuota(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{}, failAt: 3, failErr: fmt.Errorf("vt: 429: %w", ErrQuota)}
	e := New(Options{Enrichers: []Enricher{src}, Concurrency: 1})
	var inputs []string
	for i := range 10 {
		inputs = append(inputs, fmt.Sprintf("h%d.example.com", i))
	}
	var statuses []Status
	stats := e.Batch(context.Background(), inputs, Request{}, func(i int, r Result) { statuses = append(statuses, r.Status) })
	want := []Status{StatusNotFound, StatusNotFound}
	for range 8 {
		want = append(want, StatusQuota)
	}
	if !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
	if n := src.calls.Load(); n != 3 {
		t.Errorf("source calls = %d, want 3 (none after the quota error)", n)
	}
	if stats.Stopped != StatusQuota {
		t.Errorf("Stopped = %q", stats.Stopped)
	}
}

func TestStreamStopsOnAuth(t *testing.T) {
	src := &fakeSource{failAt: 1, failErr: fmt.Errorf("vt: 401: %w", ErrUnauthorized)}
	e := New(Options{Enrichers: []Enricher{src}, Concurrency: 1})
	inputs := []string{"a.example.com", "b.example.com", "c.example.com"}
	e.Batch(context.Background(), inputs, Request{}, func(i int, r Result) {
		if r.Status != StatusAuth {
			t.Errorf("input %d status = %s, want %s", i, r.Status, StatusAuth)
		}
	})
	if n := src.calls.Load(); n != 1 {
		t.Errorf("source calls = %d, want 1", n)
	}
}

func TestStreamCancelEmitsEveryReadInput(t *testing.T) {
	src := &fakeSource{delay: time.Hour}
	e := New(Options{Enrichers: []Enricher{src}, Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	// Two workers block in Fetch and the reader blocks handing over the
	// third input, which is where a real Ctrl-C finds a batch.
	timer := time.AfterFunc(50*time.Millisecond, cancel)
	defer timer.Stop()
	inputs := func(yield func(string) bool) {
		for i := 0; i < 1000; i++ {
			if !yield(fmt.Sprintf("h%d.example.com", i)) {
				return
			}
		}
	}
	var got []Status
	stats := e.Stream(ctx, inputs, Request{}, func(i int, r Result) { got = append(got, r.Status) })
	if len(got) != stats.Inputs || len(got) == 0 || len(got) == 1000 {
		t.Fatalf("emitted %d results for %d inputs read, want every read input and not all 1000", len(got), stats.Inputs)
	}
	for i, s := range got {
		if s != StatusCancelled {
			t.Errorf("result %d status = %s, want cancelled", i, s)
		}
	}
}

func TestLookupSharesConcurrentRequests(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad}, delay: 20 * time.Millisecond}
	e := newTestEngine(src)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.Lookup(context.Background(), "evil.com", Request{}); r.Verdict != verdict.Malicious {
				t.Errorf("verdict = %v", r.Verdict)
			}
		}()
	}
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Errorf("source calls = %d, want 1", n)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

type fakeKB map[string]Local

func (k fakeKB) Local(_ context.Context, key string) (Local, error) { return k[key], nil }

func TestLookupAttachesLocalData(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad}}
	kb := fakeKB{"evil.com": {Tags: []string{"apt-x"}, Watchlists: []string{"case-1"}}}
	e := New(Options{Enrichers: []Enricher{src}, KB: kb})
	for _, in := range []string{"evil[.]com", "EVIL.com."} {
		r := e.Lookup(context.Background(), in, Request{})
		if !slices.Equal(r.Local.Tags, []string{"apt-x"}) || !slices.Equal(r.Local.Watchlists, []string{"case-1"}) {
			t.Errorf("Lookup(%q).Local = %+v, want the KB entry of evil.com", in, r.Local)
		}
	}
	if r := e.Lookup(context.Background(), "10.1.2.3", Request{}); r.Local.Tags != nil {
		t.Errorf("non-routable result carries tags %v of another IOC", r.Local.Tags)
	}
}

// fakeBatchKB is a fakeKB that also reads many keys at once and counts
// the calls of each kind.
type fakeBatchKB struct {
	fakeKB
	single, many atomic.Int32
}

func (k *fakeBatchKB) Local(ctx context.Context, key string) (Local, error) {
	k.single.Add(1)
	return k.fakeKB.Local(ctx, key)
}

func (k *fakeBatchKB) LocalMany(_ context.Context, keys []string) (map[string]Local, error) {
	k.many.Add(1)
	out := map[string]Local{}
	for _, key := range keys {
		if l, ok := k.fakeKB[key]; ok {
			out[key] = l
		}
	}
	return out, nil
}

func TestAttachLocalMatchesLookup(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad, "8.8.8.8": clean}}
	kb := &fakeBatchKB{fakeKB: fakeKB{
		"evil.com": {Tags: []string{"apt-x"}, Watchlists: []string{"case-1"}},
		"10.1.2.3": {Notes: []Note{{ID: 1, Text: "lab host"}}},
	}}
	e := New(Options{Enrichers: []Enricher{src}, KB: kb})
	ctx := context.Background()
	inputs := []string{"evil[.]com", "8.8.8.8", "10.1.2.3", "not an ioc", "EVIL.com."}

	var want, got []Result
	for _, in := range inputs {
		want = append(want, e.Lookup(ctx, in, Request{}))
		got = append(got, e.Lookup(ctx, in, Request{NoLocal: true}))
	}
	single := kb.single.Load()
	e.AttachLocal(ctx, got)

	for i := range inputs {
		if !reflect.DeepEqual(got[i].Local, want[i].Local) {
			t.Errorf("%q: AttachLocal gave %+v, Lookup %+v", inputs[i], got[i].Local, want[i].Local)
		}
	}
	if n := kb.many.Load(); n != 1 {
		t.Errorf("LocalMany called %d times, want once", n)
	}
	if n := kb.single.Load() - single; n != 0 {
		t.Errorf("Local called %d times by AttachLocal, want none", n)
	}
}

func TestCancelledLookupKeepsLocalAndShortError(t *testing.T) {
	src := &fakeSource{delay: time.Hour}
	kb := fakeKB{"evil.com": {Tags: []string{"apt-x"}}}
	e := New(Options{Enrichers: []Enricher{src}, KB: kb})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := e.Lookup(ctx, "evil.com", Request{})
	if r.Status != StatusCancelled || r.Error != "not looked up: deadline exceeded" {
		t.Errorf("status %s error %q, want cancelled with a short error", r.Status, r.Error)
	}
	if !slices.Equal(r.Local.Tags, []string{"apt-x"}) {
		t.Errorf("Local.Tags = %v, want the KB tags despite the cancellation", r.Local.Tags)
	}
}
