package hardening

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// faultCase is one misbehaviour of VirusTotal and what vex must make of it
// for the IOC it hits.
type faultCase struct {
	name  string
	fault vttest.Fault // Match is set per position
	// retried is true when the client must retry the request, so the
	// faulted IOC costs 1+maxRetries requests instead of one.
	retried bool
	want    enrich.Status
	// stops is the status every later IOC gets once the batch stops
	// sending requests, or "" when the batch goes on.
	stops enrich.Status
}

var faultCases = []faultCase{
	{name: "401", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusUnauthorized}, want: enrich.StatusAuth, stops: enrich.StatusAuth},
	{name: "403", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusForbidden}, want: enrich.StatusFailed},
	{name: "404", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusNotFound}, want: enrich.StatusNotFound},
	{name: "429_retry_after", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests, RetryAfter: time.Second}, retried: true, want: enrich.StatusQuota, stops: enrich.StatusQuota},
	{name: "429", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusTooManyRequests}, retried: true, want: enrich.StatusQuota, stops: enrich.StatusQuota},
	{name: "500", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusInternalServerError}, retried: true, want: enrich.StatusFailed},
	{name: "503", fault: vttest.Fault{Kind: vttest.Status, Status: http.StatusServiceUnavailable}, retried: true, want: enrich.StatusFailed},
	{name: "reset", fault: vttest.Fault{Kind: vttest.Reset}, retried: true, want: enrich.StatusFailed},
	{name: "slow_body", fault: vttest.Fault{Kind: vttest.Slow, Delay: 30 * time.Second}, retried: true, want: enrich.StatusFailed},
	{name: "truncated", fault: vttest.Fault{Kind: vttest.Truncated}, retried: true, want: enrich.StatusFailed},
	{name: "malformed_json", fault: vttest.Fault{Kind: vttest.Malformed}, want: enrich.StatusFailed},
	{name: "wrong_shape", fault: vttest.Fault{Kind: vttest.WrongShape}, want: enrich.StatusFailed},
	{name: "html_page", fault: vttest.Fault{Kind: vttest.HTML, Status: http.StatusBadGateway}, retried: true, want: enrich.StatusFailed},
}

// faultIOCs is the list the triage and investigate runs look up: one of
// each collection, so faults hit files, addresses, domains and URLs.
var faultIOCs = []string{
	"44d88612fea8a8f36de82e1278abb02f",
	"8.8.4.4",
	"example.org",
	"http://malware.example.net/payload",
	"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
}

// faultMatch returns the Fault.Match string that hits only input.
func faultMatch(input string) string {
	switch {
	case strings.HasPrefix(input, "http"):
		return input
	case strings.Count(input, ".") == 3:
		return "/ip_addresses/" + input
	case strings.Contains(input, "."):
		return "/domains/" + input
	}
	return "/files/" + input
}

// Retry settings of every fault run: one retry, and a per-attempt timeout
// short enough that a stalled body fails fast, yet long enough that an
// ordinary request on a 2-core machine running the race detector next to
// other test packages does not time out: 700 ms did, for unfaulted IOCs
// of the 500-IOC batch.
const (
	faultMaxRetries = 1
	faultTimeout    = 2 * time.Second
	// retryWindow is the max time between the first and the last attempt
	// for one IOC. It adds the longest wait before the one retry (a
	// Retry-After of 1 s plus 10% jitter, a backoff of at most 1 s, or the
	// config's rate_limit_wait of 1 s after a bare 429), one
	// attempt timing out, and 2 s of slack for a loaded machine.
	retryWindow = 1100*time.Millisecond + faultTimeout + 2*time.Second
	// faultRunBound only catches a hung run: a 500-IOC batch under the race
	// detector on a busy 2-core machine takes up to about 50 s.
	faultRunBound = 90 * time.Second
)

// TestFaultMatrix injects every fault at the first, a middle and the last
// IOC of a triage run, an investigate run and a 500-IOC triage batch, and
// checks that every IOC is accounted for, that nothing but a complete
// response is cached as one, that retries stay bounded and that the exit code
// follows the documented rule.
func TestFaultMatrix(t *testing.T) {
	batch := make([]string, 500)
	for i := range batch {
		batch[i] = fmt.Sprintf("h%03d.example.com", i)
	}
	runs := []struct {
		name   string
		mode   string
		inputs []string
	}{
		{"triage", "triage", faultIOCs},
		{"investigate", "investigate", faultIOCs},
		{"batch500", "triage", batch},
	}
	for _, run := range runs {
		for _, fc := range faultCases {
			positions := map[string][]int{
				"first":  {0},
				"middle": {len(run.inputs) / 2},
				"last":   {len(run.inputs) - 1},
			}
			if run.name == "batch500" && fc.stops == "" {
				// A fault that does not stop the batch hits three IOCs of
				// one run, which keeps the 500-IOC runs few.
				positions = map[string][]int{"first_middle_last": {0, len(run.inputs) / 2, len(run.inputs) - 1}}
			}
			for pos, idx := range positions {
				t.Run(run.name+"/"+fc.name+"/"+pos, func(t *testing.T) {
					t.Parallel()
					checkFaultRun(t, run.mode, run.inputs, fc, idx)
				})
			}
		}
	}
}

func checkFaultRun(t *testing.T, mode string, inputs []string, fc faultCase, faulted []int) {
	fake := startFake(t, vttest.Options{Seed: 3})
	for _, i := range faulted {
		f := fc.fault
		f.Match = faultMatch(inputs[i])
		fake.Inject(f)
	}
	h := newHome(t, fake.URL(), apiConfig{maxRetries: faultMaxRetries, timeout: faultTimeout.String()})
	list := filepath.Join(h.dir, "iocs.txt")
	if err := os.WriteFile(list, []byte(strings.Join(inputs, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	res := h.run(t, "", nil, mode, "-f", list, "-o", "ndjson")
	elapsed := time.Since(start)
	results := parseNDJSON(t, res.stdout)

	// Every input has exactly one result, in input order.
	if len(results) != len(inputs) {
		t.Fatalf("%d results for %d inputs; stderr:\n%s", len(results), len(inputs), res.stderr)
	}
	isFaulted := map[int]bool{}
	for _, i := range faulted {
		isFaulted[i] = true
	}
	stopped := false
	for i, r := range results {
		if r.Input != inputs[i] {
			t.Errorf("result %d is for %q, want %q", i, r.Input, inputs[i])
		}
		switch {
		case isFaulted[i]:
			if r.Status != fc.want {
				t.Errorf("faulted IOC %q: status %q (error %q), want %q", r.Input, r.Status, r.Error, fc.want)
			}
			if r.Status != enrich.StatusOK && r.Status != enrich.StatusNotFound && r.Error == "" {
				t.Errorf("faulted IOC %q: status %q without an error message", r.Input, r.Status)
			}
			stopped = stopped || fc.stops != ""
		case r.Status == enrich.StatusOK:
		case fc.stops != "" && r.Status == fc.stops:
			// Stopped after the fault closed the batch; in-flight lookups
			// of earlier IOCs may be stopped too.
		default:
			t.Errorf("unfaulted IOC %q: status %q (error %q), want ok", r.Input, r.Status, r.Error)
		}
	}
	if fc.stops != "" && !stopped {
		t.Errorf("no IOC got the stopping status %q", fc.stops)
	}

	// Retries are bounded in count and time.
	checkRetries(t, fake, fc, len(faulted))
	if elapsed > faultRunBound {
		t.Errorf("run took %s, want under %s", elapsed, faultRunBound)
	}

	// The exit code follows the results; a rejected key is a config error.
	want := expectedExit(results)
	if fc.stops == enrich.StatusAuth {
		want = 78
	}
	if res.code != want {
		t.Errorf("exit code %d, want %d; stderr:\n%s", res.code, want, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, testKey) {
		t.Error("the API key appears in the output")
	}

	checkCache(t, h, results)
	checkOnlyGET(t, fake)

	// With the fault gone, a failed IOC is looked up again, because
	// nothing of it was cached; a not-found one comes from the cache.
	fake.ClearFaults()
	for _, i := range faulted {
		again := parseNDJSON(t, h.run(t, "", nil, mode, inputs[i], "-o", "ndjson").stdout)
		if len(again) != 1 {
			t.Fatalf("second run: %d results, want 1", len(again))
		}
		switch fc.want {
		case enrich.StatusNotFound:
			if again[0].Status != enrich.StatusNotFound || again[0].Source != enrich.SourceCache {
				t.Errorf("second run of %q: status %q from %q, want not_found from the cache", inputs[i], again[0].Status, again[0].Source)
			}
		default:
			if again[0].Status != enrich.StatusOK || again[0].Source != enrich.SourceAPI {
				t.Errorf("second run of %q: status %q from %q, want ok from the api", inputs[i], again[0].Status, again[0].Source)
			}
		}
	}
}

// checkCache opens the run's cache file and checks each result against it:
// a complete response is cached as ok with JSON that decodes to the IOC, a
// not-found response as not_found, and nothing else is cached at all.
func checkCache(t *testing.T, h *home, results []enrich.Result) {
	t.Helper()
	ctx := context.Background()
	store, err := cache.Open(ctx, filepath.Join(h.dataDir, "cache.db"), cache.Options{})
	if err != nil {
		t.Fatalf("open the run's cache: %v", err)
	}
	defer store.Close()

	for _, r := range results {
		if r.Normalized == "" {
			continue
		}
		e, _, err := store.Get(ctx, cache.Key{Mode: string(r.Mode), Type: string(r.Type), Value: r.Normalized})
		switch r.Status {
		case enrich.StatusOK:
			if err != nil {
				t.Errorf("%s: ok result not cached: %v", r.Input, err)
				continue
			}
			if e.Status != cache.StatusOK {
				t.Errorf("%s: cached with status %q, want ok", r.Input, e.Status)
			}
			checkCachedData(t, r, e.Data)
		case enrich.StatusNotFound:
			if err != nil || e.Status != cache.StatusNotFound {
				t.Errorf("%s: not-found result cached as %q (err %v), want not_found", r.Input, e.Status, err)
			}
		default:
			if !errors.Is(err, cache.ErrMiss) {
				t.Errorf("%s: %s result is in the cache with status %q (err %v), want no entry", r.Input, r.Status, e.Status, err)
			}
		}
	}
}

// checkCachedData checks that cached JSON is a whole object for the IOC.
func checkCachedData(t *testing.T, r enrich.Result, data []byte) {
	t.Helper()
	if r.Mode == enrich.Investigate {
		var inv struct {
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(data, &inv); err != nil {
			t.Errorf("%s: cached investigation is not JSON: %v", r.Input, err)
			return
		}
		data = inv.Object
	}
	obj, err := vt.DecodeObject(data)
	if err != nil {
		t.Errorf("%s: cached object does not decode: %v", r.Input, err)
		return
	}
	if obj.ID == "" || !obj.HasStats() {
		t.Errorf("%s: cached object has id %q and stats %v, want a complete object", r.Input, obj.ID, obj.HasStats())
	}
}

// checkRetries checks the faulted requests the fake logged: each faulted
// IOC got exactly 1+faultMaxRetries attempts when the fault is transient
// and one otherwise, all within retryWindow.
func checkRetries(t *testing.T, fake *vttest.Server, fc faultCase, faultedIOCs int) {
	t.Helper()
	attempts := 1
	if fc.retried {
		attempts += faultMaxRetries
	}
	// A slow response is logged as faulted only when its handler returns,
	// which may be after vex exits, so count every request to a path that
	// was faulted at least once.
	requests := fake.Requests()
	byPath := map[string][]time.Time{}
	for _, rq := range requests {
		if rq.Fault != "" {
			byPath[rq.Path] = nil
		}
	}
	for _, rq := range requests {
		if _, ok := byPath[rq.Path]; ok {
			byPath[rq.Path] = append(byPath[rq.Path], rq.Time)
		}
	}
	if len(byPath) != faultedIOCs {
		t.Errorf("faults hit %d paths, want %d", len(byPath), faultedIOCs)
	}

	for path, times := range byPath {
		// A reset connection counts too: the client never lets the
		// Transport resend a GET by itself, outside the limiter.
		if len(times) != attempts {
			t.Errorf("%s: %d requests, want %d (1 attempt + %d retries)", path, len(times), attempts, attempts-1)
		}
		if span := times[len(times)-1].Sub(times[0]); span > retryWindow {
			t.Errorf("%s: retries took %s, want at most %s", path, span, retryWindow)
		}
	}
}

// checkOnlyGET checks that vex sent VirusTotal nothing but GET requests:
// it never submits a URL or a file.
func checkOnlyGET(t *testing.T, fake *vttest.Server) {
	t.Helper()
	for _, rq := range fake.Requests() {
		if rq.Method != http.MethodGet {
			t.Errorf("vex sent %s %s; it may only GET", rq.Method, rq.Path)
		}
	}
}
