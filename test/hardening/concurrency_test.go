package hardening

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Limits of the shared-data-directory run. The per-minute phase sends
// more distinct IOCs than sharedPerMinute within one minute, so the limiter
// must hold every process back. The daily phase then goes past sharedPerDay.
const (
	sharedPerMinute = 12
	sharedPerDay    = 20
	minutePhase     = 25 * time.Second
	dayPhase        = 12 * time.Second
	cliProcesses    = 3
)

// sharedRun is the state of TestSharedDataDir: one data directory, one
// fake VirusTotal, and everything every process wrote.
type sharedRun struct {
	t    *testing.T
	fake *vttest.Server
	home *home

	mu      sync.Mutex
	outputs []string // stdout and stderr of every process and query
	seq     int      // numbers new IOCs across processes
	okIOCs  map[string]bool
}

func (s *sharedRun) newIOC(kind string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s-%04d.example.com", kind, s.seq)
}

func (s *sharedRun) record(output string, results []enrich.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs = append(s.outputs, output)
	for _, r := range results {
		if r.Status == enrich.StatusOK {
			s.okIOCs[r.Normalized] = true
		}
	}
}

// sharedIOCs are looked up by every process, so they hit the cache and the
// in-flight de-duplication of several processes at once.
var sharedIOCs = []string{"shared-a.example.com", "shared-b.example.com", "8.8.8.8"}

// TestSharedDataDir runs several CLI processes, the osquery extension and
// the Splunk command on one data directory, first against the per-minute
// limit and then against the daily quota, which the fake VirusTotal
// enforces too. No process may surface "database is locked", the fake may
// never see more requests than the limits allow, and the cache and ledger
// must agree with what was fetched.
func TestSharedDataDir(t *testing.T) {
	// The fake enforces the per-minute limit in the first phase only: the
	// second raises vex's own per-minute limit to reach the daily quota
	// within seconds, and the fake keeps enforcing that quota.
	fake := startFake(t, vttest.Options{Seed: 9, DailyQuota: sharedPerDay})
	h := newHome(t, fake.URL(), apiConfig{
		perMinute: sharedPerMinute, perDay: sharedPerDay, maxRetries: -1,
		extra: "\n[osquery]\ntimeout = \"3s\"\n\n[splunk]\nallow_self_signed_loopback = true\n",
	})
	s := &sharedRun{t: t, fake: fake, home: h, okIOCs: map[string]bool{}}
	ext := startOsqueryExtIn(t, h)
	sw := newSplunkWorldIn(t, h)

	for _, phase := range []struct {
		name string
		d    time.Duration
	}{{"per_minute", minutePhase}, {"per_day", dayPhase}} {
		if phase.name == "per_day" {
			raisePerMinute(t, h)
		}
		ctx, cancel := context.WithTimeout(context.Background(), phase.d)
		var wg sync.WaitGroup
		for i := range cliProcesses {
			wg.Add(1)
			go func() { defer wg.Done(); s.loopCLI(ctx, fmt.Sprintf("cli%d", i)) }()
		}
		wg.Add(2)
		go func() { defer wg.Done(); s.loopOsquery(ctx, ext) }()
		go func() { defer wg.Done(); s.loopSplunk(ctx, sw) }()
		wg.Wait()
		cancel()

		requests := fake.Requests()
		for _, rq := range requests {
			if rq.Status == http.StatusTooManyRequests {
				t.Errorf("%s phase: the fake answered 429 to %s: vex exceeded its limit", phase.name, rq.Path)
			}
		}
		t.Logf("%s phase: %d requests so far, %d process outputs", phase.name, len(requests), len(s.outputs))
		if phase.name == "per_minute" && len(requests) != sharedPerMinute {
			// All within one minute, so this is the limit reached and held.
			t.Errorf("per-minute phase: %d requests, want exactly %d (the limit, reached and held)", len(requests), sharedPerMinute)
		}
	}

	if n := fake.Count(""); n != sharedPerDay {
		t.Errorf("%d requests in all, want exactly the daily quota of %d", n, sharedPerDay)
	}
	for _, out := range s.outputs {
		if strings.Contains(strings.ToLower(out), "database is locked") || strings.Contains(out, "SQLITE_BUSY") {
			t.Errorf("a process surfaced a locked database:\n%.1500s", out)
			break
		}
	}
	s.checkState()
	checkOnlyGET(t, fake)
}

// loopCLI runs short vex triage processes until ctx ends. Each looks up
// the shared IOCs and two new ones, and is interrupted as Ctrl-C would
// when ctx ends, so it prints what is done.
func (s *sharedRun) loopCLI(ctx context.Context, name string) {
	bin := binary(s.t, "vex")
	for ctx.Err() == nil {
		args := append([]string{"triage", "-q", "-o", "ndjson"}, sharedIOCs...)
		args = append(args, s.newIOC(name), s.newIOC(name))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = s.home.processEnv()
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 10 * time.Second
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			s.t.Errorf("%s: %v", name, err)
			return
		}
		if ee != nil {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				if ws.Signal() == os.Interrupt && ctx.Err() != nil && out.Len() == 0 && errOut.Len() == 0 {
					// Interrupted before the Go runtime installed its
					// signal handler: the default action ended it.
					continue
				}
				s.t.Errorf("%s: vex died of %v; stderr:\n%s", name, ws.Signal(), errOut.String())
			}
		}
		results := parseNDJSON(s.t, out.String())
		// An interrupted batch stops reading its inputs, so only a run
		// that was not interrupted must answer every IOC.
		if ctx.Err() == nil && len(results) != len(args)-4 || len(results) > len(args)-4 {
			s.t.Errorf("%s: %d results for %d IOCs (exit %v); stderr:\n%s", name, len(results), len(args)-4, err, errOut.String())
		}
		s.record(out.String()+errOut.String(), results)
		pause(ctx)
	}
}

// pause spaces the runs of one loop, so that once the quota is spent the
// loops do not spin.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}

// loopOsquery queries vex_triage through the fake osqueryd until ctx ends.
func (s *sharedRun) loopOsquery(ctx context.Context, ext *osqueryExt) {
	for ctx.Err() == nil {
		iocs := append(append([]string{}, sharedIOCs...), s.newIOC("osq"))
		rows, err := ext.tryQuery(iocs)
		if err != nil {
			s.t.Errorf("osquery: %v", err)
			return
		}
		if len(rows) != len(iocs) {
			s.t.Errorf("osquery: %d rows for %d IOCs", len(rows), len(iocs))
		}
		var b strings.Builder
		var results []enrich.Result
		for _, r := range rows {
			fmt.Fprintf(&b, "%v\n", r)
			if r["status"] == "ok" {
				results = append(results, enrich.Result{Status: enrich.StatusOK, Normalized: r["ioc_normalized"]})
			}
		}
		s.record(b.String(), results)
		pause(ctx)
	}
	s.record(ext.stderr.String(), nil)
}

// loopSplunk runs the Splunk command over short searches until ctx ends.
// A search still waiting then is stopped with SIGTERM, as splunkd stops a
// cancelled search.
func (s *sharedRun) loopSplunk(ctx context.Context, w *splunkWorld) {
	for ctx.Err() == nil {
		body := "_serial,ioc\n"
		iocs := append(append([]string{}, sharedIOCs...), s.newIOC("splunk"))
		for i, v := range iocs {
			body += fmt.Sprintf("%d,%s\n", i, v)
		}
		cmd := w.command(ctx)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
		cmd.Stdin = strings.NewReader(getinfoChunk(s.t, w.splunkd.URL(), "field=ioc") + executeChunk(true, body))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil && ctx.Err() == nil {
			s.t.Errorf("splunk command: %v\nstderr:\n%s", err, errOut.String())
		}
		var results []enrich.Result
		if err == nil {
			replies := decodeChunks(s.t, out.Bytes())
			if len(replies) == 2 && len(replies[1].rows) == len(iocs)+1 {
				for i := range iocs {
					if replies[1].field(s.t, i, "vt_status") == "ok" {
						results = append(results, enrich.Result{Status: enrich.StatusOK, Normalized: replies[1].field(s.t, i, "vt_ioc")})
					}
				}
			} else {
				s.t.Errorf("splunk command: %d replies for one execute chunk of %d events", len(replies), len(iocs))
			}
		}
		s.record(out.String()+errOut.String(), results)
		pause(ctx)
	}
}

// checkState opens the shared cache and ledger after the run: every IOC a
// process reported ok is cached as ok, the cache holds no more objects than
// the fake served, and the ledger counted every request the fake saw.
func (s *sharedRun) checkState() {
	t := s.t
	ctx := context.Background()
	store, err := cache.Open(ctx, filepath.Join(s.home.dataDir, config.CacheFile), cache.Options{})
	if err != nil {
		t.Fatalf("open the shared cache: %v", err)
	}
	defer store.Close()
	st, err := store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, rq := range s.fake.Requests() {
		if rq.Status == http.StatusOK {
			served++
		}
	}
	if st.Entries > served {
		t.Errorf("cache has %d entries but the fake served %d objects", st.Entries, served)
	}
	for v := range s.okIOCs {
		e, _, err := store.Get(ctx, cache.Key{Mode: "triage", Type: typeOf(v), Value: v})
		if err != nil || e.Status != cache.StatusOK {
			t.Errorf("%s was reported ok but is cached as %q (err %v)", v, e.Status, err)
		}
	}

	ledger, err := ratelimit.Open(ctx, filepath.Join(s.home.dataDir, config.LedgerFile),
		ratelimit.Limits{PerMinute: sharedPerMinute, PerDay: sharedPerDay}, ratelimit.Options{})
	if err != nil {
		t.Fatalf("open the shared ledger: %v", err)
	}
	defer ledger.Close()
	ls, err := ledger.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := s.fake.Count("")
	if ls.UsedToday < sent || ls.UsedToday > sharedPerDay {
		t.Errorf("ledger counts %d requests today; the fake saw %d and the quota is %d", ls.UsedToday, sent, sharedPerDay)
	}
}

func typeOf(v string) string {
	if strings.Count(v, ".") == 3 && strings.Trim(v, "0123456789.") == "" {
		return "ipv4"
	}
	return "domain"
}

// raisePerMinute rewrites the shared config so that processes started from
// now on may send 1000 requests a minute. The osquery extension, already
// running, keeps the old limit.
func raisePerMinute(t *testing.T, h *home) {
	t.Helper()
	text, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("per_minute = %d\n", sharedPerMinute)
	if !bytes.Contains(text, []byte(old)) {
		t.Fatalf("config has no %q", old)
	}
	text = bytes.Replace(text, []byte(old), []byte("per_minute = 1000\n"), 1)
	if err := os.WriteFile(h.config, text, 0o600); err != nil {
		t.Fatal(err)
	}
}
