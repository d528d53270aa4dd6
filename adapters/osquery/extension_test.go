package osquery_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vexosq "github.com/vex-ioc/vex/adapters/osquery"
	"github.com/vex-ioc/vex/adapters/osquery/osquerytest"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/verdict"
)

// fakeEngine answers lookups from a function and records the requests.
type fakeEngine struct {
	mu      sync.Mutex
	calls   []string
	reqs    []enrich.Request
	lookup  func(ctx context.Context, input string, req enrich.Request) enrich.Result
	running atomic.Int32
}

func (f *fakeEngine) Lookup(ctx context.Context, input string, req enrich.Request) enrich.Result {
	f.running.Add(1)
	defer f.running.Add(-1)
	f.mu.Lock()
	f.calls = append(f.calls, input)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.lookup != nil {
		return f.lookup(ctx, input, req)
	}
	return cleanResult(input)
}

func (f *fakeEngine) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func cleanResult(input string) enrich.Result {
	norm := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(input, "[.]", ".")))
	typ := ioc.Domain
	if strings.Count(norm, ".") == 3 {
		typ = ioc.IPv4
	}
	return enrich.Result{
		Input: input, Type: typ, Normalized: norm, Status: enrich.StatusOK, Verdict: verdict.Clean,
		Stats:   verdict.Stats{Harmless: 60, Undetected: 10},
		Engines: 70, Source: enrich.SourceAPI, Permalink: "https://www.virustotal.com/gui/search/" + norm,
		Summary: enrich.Summary{Tags: []string{"dns"}, LastAnalysis: time.Unix(1700000000, 0)},
	}
}

// harness is a fake osquery with the extension registered in-process.
type harness struct {
	m      *osquerytest.Manager
	cancel context.CancelFunc
	done   chan error
}

// shortSocket returns a socket path short enough for osquery-go's limit
// of 97 characters, which t.TempDir paths can exceed.
func shortSocket(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "osquery.em")
}

func start(t testing.TB, opt vexosq.Options) *harness {
	t.Helper()
	m := osquerytest.New(shortSocket(t))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	opt.Socket = m.Path()
	if opt.PingInterval == 0 {
		opt.PingInterval = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- vexosq.Run(ctx, opt) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return within 15s of cancellation")
		}
		m.Stop()
	})

	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := m.WaitExtension(wctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}
	return h
}

func query(t *testing.T, h *harness, q osquerytest.Query, opt osquerytest.Options) ([]map[string]string, osquerytest.Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, st, err := h.m.Query(ctx, q, opt)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return rows, st
}

func TestTriageOneIOC(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	rows, st := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8")}}, osquerytest.Options{})
	if st.Calls != 1 || len(rows) != 1 {
		t.Fatalf("calls = %d, rows = %d; want 1 and 1", st.Calls, len(rows))
	}
	r := rows[0]
	want := map[string]string{
		"ioc": "8.8.8.8", "ioc_type": "ipv4", "ioc_normalized": "8.8.8.8", "verdict": "CLEAN", "status": "ok",
		"malicious": "0", "harmless": "60", "undetected": "10", "engines": "70", "source": "api",
		"last_analysis_date": "1700000000", "tags": "dns",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("row[%s] = %q, want %q", k, r[k], v)
		}
	}
	if _, present := r["offline"]; present {
		t.Error("SELECT * returned the hidden column offline")
	}
	if !strings.Contains(st.Contexts[0], `"name":"verdict","list":[]`) {
		t.Errorf("context does not list every column: %s", st.Contexts[0])
	}
}

func TestTriageEchoesInputByteForByte(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	in := " EVIL[.]example.COM "
	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", in)}}, osquerytest.Options{})
	if len(rows) != 1 {
		t.Fatalf("got %d rows after osquery's re-filter, want 1", len(rows))
	}
	if rows[0]["ioc"] != in || rows[0]["ioc_normalized"] != "evil.example.com" {
		t.Errorf("ioc = %q, normalized = %q", rows[0]["ioc"], rows[0]["ioc_normalized"])
	}
}

func TestRequiredColumnRejected(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	_, st, err := h.m.Query(context.Background(), osquerytest.Query{Table: "vex_triage"}, osquerytest.Options{})
	if !errors.Is(err, osquerytest.ErrRequiredColumn) {
		t.Fatalf("err = %v, want ErrRequiredColumn", err)
	}
	if st.Calls != 0 || len(eng.Calls()) != 0 {
		t.Errorf("calls = %d, lookups = %d; want none", st.Calls, len(eng.Calls()))
	}
}

func TestINOptimizedAndSplit(t *testing.T) {
	values := []string{"8.8.8.8", "1.1.1.1", "evil.example.com"}
	for _, tc := range []struct {
		name  string
		mode  osquerytest.INMode
		calls int
	}{
		{"optimized one call", osquerytest.INOptimized, 1},
		{"split one call per value", osquerytest.INSplit, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{}
			h := start(t, vexosq.Options{Engine: eng})
			rows, st := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", values...)}}, osquerytest.Options{IN: tc.mode})
			if st.Calls != tc.calls {
				t.Errorf("calls = %d, want %d", st.Calls, tc.calls)
			}
			if len(rows) != 3 {
				t.Errorf("rows = %d, want 3", len(rows))
			}
			if len(eng.Calls()) != 3 {
				t.Errorf("lookups = %d, want 3", len(eng.Calls()))
			}
		})
	}
}

func TestJoinCallsOncePerOuterRow(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	hashes := []map[string]string{
		{"path": "/usr/bin/ls", "sha256": strings.Repeat("a", 64)},
		{"path": "/usr/bin/cat", "sha256": strings.Repeat("b", 64)},
		{"path": "/tmp/unreadable"}, // hash NULL: no call
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, st, err := h.m.Join(ctx, hashes, "sha256", osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "verdict"}}, "ioc", osquerytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 2 || len(rows) != 2 {
		t.Fatalf("calls = %d, rows = %d; want 2 and 2", st.Calls, len(rows))
	}
	if rows[1].Outer["path"] != "/usr/bin/cat" || rows[1].Inner["verdict"] != "CLEAN" {
		t.Errorf("second row = %+v", rows[1])
	}
}

func TestErrorsAreRows(t *testing.T) {
	eng := &fakeEngine{lookup: func(ctx context.Context, input string, req enrich.Request) enrich.Result {
		switch input {
		case "not-an-ioc":
			return enrich.Result{Input: input, Status: enrich.StatusInvalid, Error: `invalid ioc "not-an-ioc": no known type`, Source: enrich.SourceNone}
		case "quota.example.com":
			return enrich.Result{Input: input, Type: ioc.Domain, Normalized: input, Status: enrich.StatusQuota, Source: enrich.SourceNone}
		case "stale.example.com":
			r := cleanResult(input)
			r.Source = enrich.SourceStaleCache
			return r
		case "slow.example.com":
			<-ctx.Done()
			return enrich.Result{Input: input, Status: enrich.StatusCancelled, Error: ctx.Err().Error(), Source: enrich.SourceNone}
		}
		return cleanResult(input)
	}}
	s := vexosq.DefaultSettings()
	s.Timeout = 300 * time.Millisecond
	h := start(t, vexosq.Options{Engine: eng, Settings: s})

	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{
		osquerytest.In("ioc", "not-an-ioc", "quota.example.com", "stale.example.com", "slow.example.com"),
	}}, osquerytest.Options{})
	got := map[string]map[string]string{}
	for _, r := range rows {
		got[r["ioc"]] = r
	}
	if len(got) != 4 {
		t.Fatalf("rows = %v, want 4", rows)
	}
	for _, tc := range []struct{ ioc, status, source, errPart string }{
		{"not-an-ioc", "invalid", "none", "no known type"},
		{"quota.example.com", "quota_exhausted", "none", "quota exhausted"},
		{"stale.example.com", "ok", "stale_cache", ""},
		{"slow.example.com", "cancelled", "none", "timed out after 300ms"},
	} {
		r := got[tc.ioc]
		if r["status"] != tc.status || r["source"] != tc.source || !strings.Contains(r["error"], tc.errPart) {
			t.Errorf("%s: status=%q source=%q error=%q; want %q %q containing %q", tc.ioc, r["status"], r["source"], r["error"], tc.status, tc.source, tc.errPart)
		}
		if tc.status != "ok" {
			if _, present := r["malicious"]; present {
				t.Errorf("%s: malicious = %q, want NULL for a result without data", tc.ioc, r["malicious"])
			}
		}
	}
}

func TestMaxIOCsCap(t *testing.T) {
	eng := &fakeEngine{}
	s := vexosq.DefaultSettings()
	s.MaxIOCs = 2
	h := start(t, vexosq.Options{Engine: eng, Settings: s})

	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", "a.example.com", "b.example.com", "c.example.com")}}, osquerytest.Options{})
	if len(rows) != 3 {
		t.Fatalf("rows = %d, want 3", len(rows))
	}
	if n := len(eng.Calls()); n != 2 {
		t.Errorf("lookups = %d, want 2", n)
	}
	if !strings.Contains(rows[2]["error"], "at most 2") || rows[2]["ioc"] != "c.example.com" {
		t.Errorf("third row = %v, want the cap error", rows[2])
	}
}

func TestHiddenInputColumns(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	q := osquerytest.Query{
		Table:   "vex_triage",
		Columns: []string{"ioc", "verdict", "offline", "max_age"},
		Where:   []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8"), osquerytest.Eq("offline", "1"), osquerytest.Eq("max_age", "3600")},
	}
	rows, _ := query(t, h, q, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["offline"] != "1" || rows[0]["max_age"] != "3600" {
		t.Fatalf("rows = %v, want one row echoing offline=1 max_age=3600", rows)
	}
	eng.mu.Lock()
	req := eng.reqs[0]
	eng.mu.Unlock()
	if !req.Offline || req.MaxAge != time.Hour || !req.AllowStale {
		t.Errorf("request = %+v, want Offline, MaxAge 1h, AllowStale", req)
	}

	q.Where[1] = osquerytest.Eq("offline", "maybe")
	rows, _ = query(t, h, osquerytest.Query{Table: "vex_triage", Columns: []string{"ioc", "error"}, Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8"), osquerytest.Eq("max_age", "-5")}}, osquerytest.Options{})
	if len(rows) != 1 || !strings.Contains(rows[0]["error"], "invalid max_age") {
		t.Errorf("rows = %v, want an invalid max_age error row", rows)
	}
}

func TestLegacyEmptyListsAndLike(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{
		osquerytest.Eq("ioc", "8.8.8.8"), osquerytest.Like("ioc", "8.8.%"),
	}}, osquerytest.Options{LegacyEmptyList: true})
	if len(rows) != 1 || rows[0]["ioc"] != "8.8.8.8" {
		t.Fatalf("rows = %v, want the one looked-up row (the LIKE error row fails the = filter)", rows)
	}
}

func TestCallerDisconnectCancelsLookup(t *testing.T) {
	entered := make(chan struct{}, 1)
	stopped := make(chan struct{}, 1)
	eng := &fakeEngine{lookup: func(ctx context.Context, input string, req enrich.Request) enrich.Result {
		entered <- struct{}{}
		<-ctx.Done()
		stopped <- struct{}{}
		return enrich.Result{Input: input, Status: enrich.StatusCancelled, Error: ctx.Err().Error()}
	}}
	h := start(t, vexosq.Options{Engine: eng})
	before := runtime.NumGoroutine()

	ext, err := h.m.WaitExtension(context.Background(), vexosq.ExtensionName)
	if err != nil {
		t.Fatal(err)
	}
	client, hangUp, err := h.m.Dial(context.Background(), ext.UUID, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = client.Call(context.Background(), "table", "vex_triage", map[string]string{
			"action": "generate", "context": `{"constraints":[{"name":"ioc","list":[{"op":2,"expr":"8.8.8.8"}],"affinity":"TEXT"}]}`,
		})
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("lookup never started")
	}
	hangUp()

	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("lookup still running 5s after osquery hung up")
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails when the goroutine count stays above max, a leak.
func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > max {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), max, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestThriftShutdownStopsRun(t *testing.T) {
	h := start(t, vexosq.Options{Engine: &fakeEngine{}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := h.m.PingExtension(ctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}
	if err := h.m.ShutdownExtension(ctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run = %v, want nil after a Thrift shutdown", err)
		}
		h.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after the Thrift shutdown")
	}
	if err := h.m.WaitGone(ctx, vexosq.ExtensionName); err != nil {
		t.Error(err)
	}
}

func TestCancelDeregisters(t *testing.T) {
	h := start(t, vexosq.Options{Engine: &fakeEngine{}})
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run = %v, want nil on cancellation", err)
		}
		h.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after cancellation")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.m.WaitGone(ctx, vexosq.ExtensionName); err != nil {
		t.Error(err)
	}
}

func TestManagerGoneAndBack(t *testing.T) {
	eng := &fakeEngine{}
	h := start(t, vexosq.Options{Engine: eng, Reconnect: 30 * time.Second})

	h.m.Stop()
	time.Sleep(500 * time.Millisecond) // several ping intervals with osquery away
	if err := h.m.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := h.m.WaitExtension(ctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}
	if n := h.m.Registrations(); n != 2 {
		t.Errorf("registrations = %d, want 2", n)
	}
	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", "8.8.8.8")}}, osquerytest.Options{})
	if len(rows) != 1 {
		t.Errorf("rows after reconnect = %d, want 1", len(rows))
	}
}

func TestManagerGoneForGood(t *testing.T) {
	m := osquerytest.New(shortSocket(t))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- vexosq.Run(context.Background(), vexosq.Options{
			Socket: m.Path(), Engine: &fakeEngine{}, PingInterval: 50 * time.Millisecond,
			ConnectTimeout: 200 * time.Millisecond, Reconnect: 500 * time.Millisecond,
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.WaitExtension(ctx, vexosq.ExtensionName); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not come back") {
			t.Errorf("Run = %v, want a did-not-come-back error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept waiting past its reconnect window")
	}
}

func TestConcurrentCallsFakeEngine(t *testing.T) {
	var peak atomic.Int32
	eng := &fakeEngine{}
	eng.lookup = func(ctx context.Context, input string, req enrich.Request) enrich.Result {
		if n := eng.running.Load(); n > peak.Load() {
			peak.Store(n)
		}
		time.Sleep(20 * time.Millisecond)
		return cleanResult(input)
	}
	h := start(t, vexosq.Options{Engine: eng})

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := "10.0.0." + string(rune('1'+i%9))
			rows, _, err := h.m.Query(context.Background(), osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.Eq("ioc", v)}}, osquerytest.Options{})
			if err == nil && len(rows) != 1 {
				err = errors.New("want one row for " + v)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if peak.Load() < 2 {
		t.Errorf("peak concurrent lookups = %d, want calls served in parallel", peak.Load())
	}
}

// fakeKB is an in-memory knowledge base.
type fakeKB struct {
	tags  []kb.TagEntry
	lists map[string][]kb.Member
	err   error
}

func (f *fakeKB) ListTags(context.Context) ([]kb.TagEntry, error) { return f.tags, f.err }
func (f *fakeKB) Watchlists(context.Context) ([]kb.WatchlistInfo, error) {
	var out []kb.WatchlistInfo
	for n, m := range f.lists {
		out = append(out, kb.WatchlistInfo{Name: n, Members: len(m)})
	}
	return out, f.err
}
func (f *fakeKB) Watchlist(_ context.Context, name string) ([]kb.Member, error) {
	m, found := f.lists[name]
	if !found {
		return nil, kb.ErrNotFound
	}
	return m, f.err
}

func TestKBTables(t *testing.T) {
	k := &fakeKB{
		tags: []kb.TagEntry{{IOC: "evil.example.com", Type: ioc.Domain, Tag: "phishing", Created: time.Unix(1700000000, 0)}},
		lists: map[string][]kb.Member{
			"apt-x":  {{IOC: "8.8.4.4", Type: ioc.IPv4, Added: time.Unix(1700000100, 0)}},
			"ransom": {{IOC: strings.Repeat("c", 64), Type: ioc.SHA256}},
		},
	}
	h := start(t, vexosq.Options{KB: k})

	rows, _ := query(t, h, osquerytest.Query{Table: "vex_tags"}, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["tag"] != "phishing" || rows[0]["created"] != "1700000000" {
		t.Errorf("vex_tags = %v", rows)
	}
	rows, _ = query(t, h, osquerytest.Query{Table: "vex_watchlist"}, osquerytest.Options{})
	if len(rows) != 2 {
		t.Errorf("vex_watchlist full scan = %v, want 2 rows", rows)
	}
	rows, _ = query(t, h, osquerytest.Query{Table: "vex_watchlist", Where: []osquerytest.Cond{osquerytest.Eq("watchlist", "apt-x")}}, osquerytest.Options{})
	if len(rows) != 1 || rows[0]["ioc"] != "8.8.4.4" {
		t.Errorf("vex_watchlist apt-x = %v", rows)
	}
	if names := h.m.TableNames(); len(names) != 2 {
		t.Errorf("tables = %v, want vex_tags and vex_watchlist only (no engine)", names)
	}
}

func TestKBErrorIsRow(t *testing.T) {
	h := start(t, vexosq.Options{KB: &fakeKB{err: kb.ErrCorrupt}})
	rows, _ := query(t, h, osquerytest.Query{Table: "vex_tags", Columns: []string{"error"}}, osquerytest.Options{})
	if len(rows) != 1 || !strings.Contains(rows[0]["error"], "read knowledge base tags") {
		t.Errorf("rows = %v, want one error row", rows)
	}
}

// batchEngine is a fakeEngine that attaches knowledge-base tags to all the
// results of a call at once, as *enrich.Engine does.
type batchEngine struct {
	fakeEngine
	attached atomic.Int32
}

func (b *batchEngine) AttachLocal(_ context.Context, results []enrich.Result) {
	b.attached.Add(1)
	for i := range results {
		results[i].Local.Tags = []string{"kb-" + results[i].Normalized}
	}
}

func TestTriageAttachesLocalOncePerCall(t *testing.T) {
	eng := &batchEngine{}
	h := start(t, vexosq.Options{Engine: eng})

	values := []string{"8.8.8.8", "1.1.1.1", "evil.example.com"}
	rows, _ := query(t, h, osquerytest.Query{Table: "vex_triage", Where: []osquerytest.Cond{osquerytest.In("ioc", values...)}}, osquerytest.Options{IN: osquerytest.INOptimized})
	if len(rows) != len(values) {
		t.Fatalf("rows = %d, want %d", len(rows), len(values))
	}
	for _, r := range rows {
		if want := "dns,kb-" + r["ioc_normalized"]; r["tags"] != want {
			t.Errorf("%s: tags = %q, want %q", r["ioc"], r["tags"], want)
		}
	}
	if n := eng.attached.Load(); n != 1 {
		t.Errorf("AttachLocal called %d times, want once per call", n)
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	for _, req := range eng.reqs {
		if !req.NoLocal {
			t.Errorf("lookup request %+v reads the knowledge base itself", req)
		}
	}
}
