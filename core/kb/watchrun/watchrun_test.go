package watchrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/kb/watchrun"
	"github.com/vex-ioc/vex/core/verdict"
)

// source is a fake intelligence source whose returned stats the test
// changes between runs. Indicators it has no stats for are "not found".
type source struct {
	mu    sync.Mutex
	stats map[string]verdict.Stats
	fail  map[string]error
	calls int
}

func (s *source) Name() string           { return "fake" }
func (s *source) Supports(ioc.Type) bool { return true }
func (s *source) set(v string, st verdict.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats[v] = st
}

func (s *source) Fetch(_ context.Context, i ioc.IOC, _ enrich.Mode) (enrich.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if err := s.fail[i.Value]; err != nil {
		return enrich.Record{}, err
	}
	st, ok := s.stats[i.Value]
	if !ok {
		return enrich.Record{Status: enrich.RecordNotFound}, nil
	}
	body, err := json.Marshal(st)
	return enrich.Record{Status: enrich.RecordOK, Data: body}, err
}

func (s *source) Decode(_ ioc.IOC, rec enrich.Record, r *enrich.Result) error {
	if rec.Status == enrich.RecordNotFound {
		return nil
	}
	return json.Unmarshal(rec.Data, &r.Stats)
}

var (
	clean     = verdict.Stats{Harmless: 60, Undetected: 10}
	malicious = verdict.Stats{Malicious: 7, Harmless: 53, Undetected: 10}
	dubious   = verdict.Stats{Suspicious: 1, Harmless: 59, Undetected: 10}
)

func setup(t *testing.T) (*kb.KB, *source, *enrich.Engine) {
	t.Helper()
	k, err := kb.Open(context.Background(), filepath.Join(t.TempDir(), "kb.db"), kb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	src := &source{stats: map[string]verdict.Stats{}, fail: map[string]error{}}
	eng := enrich.New(enrich.Options{Enrichers: []enrich.Enricher{src}, KB: k})
	return k, src, eng
}

func changes(rep watchrun.Report) map[string]watchrun.Change {
	out := map[string]watchrun.Change{}
	for _, it := range rep.Items {
		out[it.IOC] = it.Change
	}
	return out
}

func TestRunReportsVerdictChanges(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	members := []string{"evil.com", "1.2.3.4", "good.example.com", "gone.example.org", "10.0.0.1"}
	if _, err := k.AddToWatchlist(ctx, "apt", members...); err != nil {
		t.Fatal(err)
	}
	src.set("evil.com", clean)
	src.set("1.2.3.4", malicious)
	src.set("good.example.com", clean)
	src.set("gone.example.org", dubious)

	t1 := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	first, err := watchrun.Run(ctx, k, "apt", eng, enrich.Request{}, t1)
	if err != nil {
		t.Fatal(err)
	}
	if first.Counts != (watchrun.Counts{New: 5}) {
		t.Errorf("first run counts = %+v, want 5 new", first.Counts)
	}
	if first.Worsened() {
		t.Error("a baseline run reports worsened")
	}

	// Between runs: evil.com turns malicious, 1.2.3.4 is cleaned up, and
	// gone.example.org disappears from the source.
	src.set("evil.com", malicious)
	src.set("1.2.3.4", clean)
	delete(src.stats, "gone.example.org")

	t2 := t1.Add(24 * time.Hour)
	second, err := watchrun.Run(ctx, k, "apt", eng, enrich.Request{NoCache: true}, t2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]watchrun.Change{
		"evil.com":         watchrun.Worsened,
		"1.2.3.4":          watchrun.Improved,
		"good.example.com": watchrun.Unchanged,
		"gone.example.org": watchrun.Improved,  // SUSPICIOUS to UNKNOWN (not found)
		"10.0.0.1":         watchrun.Unchanged, // non-routable, never looked up
	}
	got := changes(second)
	for ioc, w := range want {
		if got[ioc] != w {
			t.Errorf("%s: change %q, want %q", ioc, got[ioc], w)
		}
	}
	if !second.Worsened() || second.Counts.Worsened != 1 || second.Counts.Improved != 2 || second.Counts.Unchanged != 2 {
		t.Errorf("second run counts = %+v", second.Counts)
	}

	it := second.Items[0]
	if it.IOC != "evil.com" || it.Previous == nil || it.Previous.Verdict != verdict.Clean || it.Verdict != verdict.Malicious {
		t.Errorf("evil.com item = %+v, want CLEAN to MALICIOUS", it)
	}
	if !it.Previous.At.Equal(t1) {
		t.Errorf("previous verdict time %v, want %v", it.Previous.At, t1)
	}

	rec, ok, err := k.LastVerdict(ctx, "apt", "evil.com")
	if err != nil || !ok || rec.Verdict != verdict.Malicious || !rec.At.Equal(t2) {
		t.Errorf("recorded verdict = %+v, %v, %v; want MALICIOUS at %v", rec, ok, err, t2)
	}
}

func TestRunFailureKeepsHistory(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com", "other.com"); err != nil {
		t.Fatal(err)
	}
	src.set("evil.com", clean)
	src.set("other.com", clean)
	t1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{}, t1); err != nil {
		t.Fatal(err)
	}

	src.fail["evil.com"] = errors.New("connection reset")
	rep, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{NoCache: true}, t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Items[0]
	if it.Change != watchrun.Failed || it.Status != enrich.StatusFailed || it.Error == "" {
		t.Errorf("failed lookup item = %+v, want change error with a status and message", it)
	}
	if rep.Counts.Errors != 1 || rep.Counts.Unchanged != 1 {
		t.Errorf("counts = %+v, want 1 error and 1 unchanged", rep.Counts)
	}
	rec, _, err := k.LastVerdict(ctx, "w", "evil.com")
	if err != nil || !rec.At.Equal(t1) {
		t.Errorf("history after a failed lookup: %+v, %v; want the verdict from %v", rec, err, t1)
	}
}

func TestRunQuotaStopsBatch(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	if _, err := k.AddToWatchlist(ctx, "w", "a.com", "b.com", "c.com"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a.com", "b.com", "c.com"} {
		src.fail[v] = enrich.ErrQuota
	}
	rep, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stopped != enrich.StatusQuota {
		t.Errorf("stopped = %q, want %q", rep.Stopped, enrich.StatusQuota)
	}
	if rep.Counts.Errors != 3 {
		t.Errorf("counts = %+v, want 3 errors", rep.Counts)
	}
	for _, it := range rep.Items {
		if it.Verdict != verdict.Unknown || it.Status != enrich.StatusQuota {
			t.Errorf("%s: %s %s, want quota_exhausted and never CLEAN", it.IOC, it.Status, it.Verdict)
		}
	}
}

func TestRunUnknownWatchlist(t *testing.T) {
	k, _, eng := setup(t)
	_, err := watchrun.Run(context.Background(), k, "nope", eng, enrich.Request{}, time.Now())
	if !errors.Is(err, kb.ErrNotFound) {
		t.Errorf("error %v, want kb.ErrNotFound", err)
	}
}

func TestRunEmptyWatchlist(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	if _, err := k.AddToWatchlist(ctx, "w", "a.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.RemoveFromWatchlist(ctx, "w", "a.com"); err != nil {
		t.Fatal(err)
	}
	rep, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) != 0 || src.calls != 0 {
		t.Errorf("empty list: %d items, %d lookups; want none", len(rep.Items), src.calls)
	}
}

func TestRunItemsCarryLocalData(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddTags(ctx, "evil.com", "c2"); err != nil {
		t.Fatal(err)
	}
	src.set("evil.com", clean)
	rep, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Items[0].Local
	if len(l.Tags) != 1 || l.Tags[0] != "c2" || len(l.Watchlists) != 1 || l.Watchlists[0] != "w" {
		t.Errorf("item local data = %+v, want tag c2 and watchlist w", l)
	}
}

// Each list keeps its own verdict history: a list that never ran reports
// its members as new, and one list's run does not use up the change that
// another list sharing the indicator has yet to report.
func TestRunHistoryPerWatchlist(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	for _, name := range []string{"apt29", "fin7"} {
		if _, err := k.AddToWatchlist(ctx, name, "c2.example.net"); err != nil {
			t.Fatal(err)
		}
	}
	src.set("c2.example.net", clean)
	t1 := time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC)
	for _, name := range []string{"apt29", "fin7"} {
		if _, err := watchrun.Run(ctx, k, name, eng, enrich.Request{}, t1); err != nil {
			t.Fatal(err)
		}
	}

	src.set("c2.example.net", malicious)
	t2 := t1.Add(24 * time.Hour)
	for _, name := range []string{"apt29", "fin7"} {
		rep, err := watchrun.Run(ctx, k, name, eng, enrich.Request{NoCache: true}, t2)
		if err != nil {
			t.Fatal(err)
		}
		if got := changes(rep)["c2.example.net"]; got != watchrun.Worsened {
			t.Errorf("list %s after the other list ran: change %q, want %q", name, got, watchrun.Worsened)
		}
	}

	if _, err := k.AddToWatchlist(ctx, "fresh", "c2.example.net"); err != nil {
		t.Fatal(err)
	}
	rep, err := watchrun.Run(ctx, k, "fresh", eng, enrich.Request{NoCache: true}, t2.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(rep)["c2.example.net"]; got != watchrun.New {
		t.Errorf("first run of a new list: change %q, want %q", got, watchrun.New)
	}
	if rep.Items[0].Previous != nil {
		t.Errorf("first run of a new list: previous %+v, want none", rep.Items[0].Previous)
	}
}

// cancelAfter runs the batch, then cancels the run's context, as Ctrl-C
// arriving after the last lookup and before the verdicts are recorded.
type cancelAfter struct {
	inner  watchrun.Batcher
	cancel context.CancelFunc
}

func (c cancelAfter) Batch(ctx context.Context, inputs []string, req enrich.Request, emit func(int, enrich.Result)) enrich.BatchStats {
	stats := c.inner.Batch(ctx, inputs, req, emit)
	c.cancel()
	return stats
}

// TestRunInterruptedRecordsNothing checks that an interrupted run keeps the
// list's history as it was: a change it looked up but never reported must
// show as a change on the next run.
func TestRunInterruptedRecordsNothing(t *testing.T) {
	ctx := context.Background()
	k, src, eng := setup(t)
	if _, err := k.AddToWatchlist(ctx, "w", "evil.com"); err != nil {
		t.Fatal(err)
	}
	src.set("evil.com", clean)
	t1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := watchrun.Run(ctx, k, "w", eng, enrich.Request{}, t1); err != nil {
		t.Fatal(err)
	}
	src.set("evil.com", malicious)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := watchrun.Run(cctx, k, "w", cancelAfter{eng, cancel}, enrich.Request{NoCache: true}, t1.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	rec, _, err := k.LastVerdict(ctx, "w", "evil.com")
	if err != nil || !rec.At.Equal(t1) {
		t.Errorf("history after an interrupted run: %+v, %v; want the verdict from %v", rec, err, t1)
	}
}
