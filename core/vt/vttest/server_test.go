package vttest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
	"github.com/vex-ioc/vex/internal/fixtures"
)

func start(t *testing.T, opts vttest.Options) *vttest.Server {
	t.Helper()
	s := vttest.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, s *vttest.Server, path string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func errorCode(body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

func TestServesEveryIndexRow(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	rows, err := vttest.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 30 {
		t.Fatalf("INDEX.tsv has %d rows, expected the full fixture set", len(rows))
	}
	s := start(t, vttest.Options{FixturesDir: dir})

	for _, row := range rows {
		if row.Method != "GET" {
			continue
		}
		t.Run(row.Path, func(t *testing.T) {
			status, body := get(t, s, row.Path)
			if status != row.Status {
				t.Fatalf("status = %d, want %d", status, row.Status)
			}
			raw, err := os.ReadFile(filepath.Join(dir, row.File))
			if err != nil {
				t.Fatal(err)
			}
			want, err := vttest.ApplyEnvelope(raw, row.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want) {
				t.Fatalf("body differs from %s with envelope %q", row.File, row.Envelope)
			}

			// Every served body has the real API's top-level "data".
			var env map[string]json.RawMessage
			if err := json.Unmarshal(body, &env); err != nil || env["data"] == nil {
				t.Fatalf("body is not {\"data\": ...}: %v", err)
			}
			if segs := strings.Split(strings.Trim(row.Path, "/"), "/"); len(segs) == 2 {
				o, err := vt.DecodeObject(body)
				if err != nil {
					t.Fatal(err)
				}
				if o.ID == "" || o.Type == "" || o.Attributes == nil {
					t.Errorf("object lacks id, type or attributes: %q %q", o.Type, o.ID)
				}
			}
		})
	}
	for _, row := range rows {
		if row.Method == "FAULT" {
			if status, body, ok := s.FaultBody(row.Path); !ok || status != row.Status || errorCode(body) == "" {
				t.Errorf("FAULT row %q: status %d, code %q, loaded %v", row.Path, status, errorCode(body), ok)
			}
		}
	}
}

func TestReshapeEnvelope(t *testing.T) {
	in := []byte(`{"type":"file","id":"abc","links":{"self":"x"},"data":{"attributes":{"size":1}}}`)
	out, err := vttest.ApplyEnvelope(in, "reshape: move top-level type/id/links into data")
	if err != nil {
		t.Fatal(err)
	}
	o, err := vt.DecodeObject(out)
	if err != nil || o.Type != "file" || o.ID != "abc" || o.Links["self"] != "x" || o.Attributes.Int64("size") != 1 {
		t.Errorf("reshaped = %s, %v", out, err)
	}
	if _, err := vttest.ApplyEnvelope(in, "gzip it"); err == nil {
		t.Error("unknown envelope accepted")
	}
}

func TestUnindexedFilesServedByID(t *testing.T) {
	dir := t.TempDir()
	obj := `{"data":{"type":"file","id":"` + strings.Repeat("a", 64) + `","attributes":{"md5":"` + strings.Repeat("B", 32) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "one.json"), []byte(obj), 0o644); err != nil {
		t.Fatal(err)
	}
	url := `{"data":{"type":"url","id":"` + strings.Repeat("c", 64) + `","attributes":{"url":"http://example.com/"}}}`
	if err := os.WriteFile(filepath.Join(dir, "url.json"), []byte(url), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`[1,2`), 0o644)
	s := start(t, vttest.Options{FixturesDir: dir})

	for _, p := range []string{"/files/" + strings.Repeat("a", 64), "/files/" + strings.Repeat("b", 32),
		"/urls/" + strings.Repeat("c", 64), "/urls/aHR0cDovL2V4YW1wbGUuY29tLw"} {
		if status, _ := get(t, s, p); status != 200 {
			t.Errorf("GET %s = %d, want 200", p, status)
		}
	}
	status, body := get(t, s, "/files/"+strings.Repeat("d", 64))
	if status != 404 || errorCode(body) != "NotFoundError" {
		t.Errorf("unknown file = %d %s, want 404 NotFoundError", status, body)
	}
}

func TestBadIndexRejected(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "INDEX.tsv"), []byte("method\tpath\tstatus\tfile\tenvelope\nGET\t/files/x\t200\tmissing.json\tas-is\n"), 0o644)
	s := vttest.New(vttest.Options{FixturesDir: dir})
	if err := s.Start(); err == nil {
		s.Close()
		t.Fatal("Start succeeded with an index row naming a missing file")
	}
}

// fakeClock is a settable clock safe for concurrent reads.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestPerMinuteLimitSlidingWindow(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := start(t, vttest.Options{Synthesize: true, RPM: 4, Clock: clock.Now})
	path := "/ip_addresses/203.0.113.5"

	for i := range 4 {
		if status, _ := get(t, s, path); status != 200 {
			t.Fatalf("request %d = %d, want 200", i+1, status)
		}
		clock.Advance(10 * time.Second)
	}
	// t=40s: four requests inside the window.
	status, body := get(t, s, path)
	if status != 429 || errorCode(body) != "QuotaExceededError" {
		t.Fatalf("5th request = %d %s, want 429 QuotaExceededError", status, body)
	}
	clock.Advance(20*time.Second + time.Millisecond) // t=60.001s: the t=0 request left
	if status, _ := get(t, s, path); status != 200 {
		t.Errorf("after the window slid = %d, want 200", status)
	}
	if status, _ := get(t, s, path); status != 429 {
		t.Errorf("window full again = %d, want 429", status)
	}
	if n := s.Count("/ip_addresses/"); n != 7 {
		t.Errorf("Count = %d, want 7 (rejected requests count too)", n)
	}
}

func TestDailyQuota(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)}
	s := start(t, vttest.Options{Synthesize: true, DailyQuota: 2, Clock: clock.Now})
	get(t, s, "/domains/example.com")
	get(t, s, "/domains/example.com")
	status, body := get(t, s, "/domains/example.com")
	if status != 429 || errorCode(body) != "QuotaExceededError" {
		t.Fatalf("3rd request of the day = %d, want 429", status)
	}
	clock.Advance(2 * time.Minute) // next UTC day
	if status, _ := get(t, s, "/domains/example.com"); status != 200 {
		t.Errorf("first request of the next day = %d, want 200", status)
	}
}

func TestAPIKeyChecked(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true, APIKey: "right-key"})
	cases := []struct {
		key, code string
		status    int
	}{
		{"", "AuthenticationRequiredError", 401},
		{"wrong", "WrongCredentialsError", 401},
		{"right-key", "", 200},
	}
	for _, tc := range cases {
		var hdr []string
		if tc.key != "" {
			hdr = []string{"x-apikey", tc.key}
		}
		status, body := get(t, s, "/domains/example.com", hdr...)
		if status != tc.status || errorCode(body) != tc.code {
			t.Errorf("key %q: %d %q, want %d %q", tc.key, status, errorCode(body), tc.status, tc.code)
		}
	}
}

func TestFaultMatchingAndTimes(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true})
	s.Inject(vttest.Fault{Match: "example.org", Kind: vttest.Status, Status: 503, Times: 2})
	s.Inject(vttest.Fault{Nth: 5, Kind: vttest.Status, Status: 403})

	want := []struct {
		path   string
		status int
	}{
		{"/domains/example.org", 503},
		{"/domains/example.com", 200},
		{"/domains/example.org", 503},
		{"/domains/example.org", 200}, // Times used up
		{"/domains/example.com", 403}, // 5th request
		{"/domains/example.com", 200},
	}
	for i, w := range want {
		if status, _ := get(t, s, w.path); status != w.status {
			t.Errorf("request %d %s = %d, want %d", i+1, w.path, status, w.status)
		}
	}
	reqs := s.Requests()
	if len(reqs) != len(want) || reqs[0].Fault != "status" || reqs[1].Fault != "" || reqs[4].Status != 403 {
		t.Errorf("request log = %+v", reqs)
	}
}

func TestFaultKinds(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true})
	check := func(kind vttest.FaultKind, verify func(resp *http.Response, body []byte, err error)) {
		t.Helper()
		s.ClearFaults()
		s.Inject(vttest.Fault{Kind: kind, Status: 502, Delay: 50 * time.Millisecond})
		resp, err := http.Get(s.URL() + "/domains/example.com")
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		verify(resp, body, err)
	}
	check(vttest.HTML, func(resp *http.Response, body []byte, err error) {
		if err != nil || resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("HTML fault: %v %v", resp, err)
		}
	})
	check(vttest.Malformed, func(resp *http.Response, body []byte, err error) {
		if err != nil || resp.StatusCode != 200 || json.Valid(body) {
			t.Errorf("Malformed fault: body %q is valid JSON or err %v", body, err)
		}
	})
	check(vttest.WrongShape, func(resp *http.Response, body []byte, err error) {
		if _, derr := vt.DecodeObject(body); err != nil || !json.Valid(body) || derr == nil {
			t.Errorf("WrongShape fault: body %q", body)
		}
	})
	check(vttest.Truncated, func(resp *http.Response, body []byte, err error) {
		if err == nil {
			t.Errorf("Truncated fault: read %d bytes without error", len(body))
		}
	})
	check(vttest.Reset, func(resp *http.Response, body []byte, err error) {
		if err == nil {
			t.Error("Reset fault: got a response")
		}
	})
	check(vttest.Slow, func(resp *http.Response, body []byte, err error) {
		if _, derr := vt.DecodeObject(body); err != nil || derr != nil {
			t.Errorf("Slow fault with a short delay should still deliver: %v %v", err, derr)
		}
	})
}

func TestSynthesizedObjectsRepeat(t *testing.T) {
	a := start(t, vttest.Options{Synthesize: true, Seed: 7})
	b := start(t, vttest.Options{Synthesize: true, Seed: 7})
	c := start(t, vttest.Options{Synthesize: true, Seed: 8})
	paths := []string{"/files/" + strings.Repeat("ab", 32), "/files/" + strings.Repeat("cd", 16),
		"/files/" + strings.Repeat("ef", 20), "/ip_addresses/203.0.113.9", "/domains/example.com",
		"/urls/" + vt.URLID("https://example.com/a"), "/domains/example.com/resolutions"}
	for _, p := range paths {
		_, ba := get(t, a, p)
		_, bb := get(t, b, p)
		_, again := get(t, a, p)
		_, bc := get(t, c, p)
		if !bytes.Equal(ba, bb) || !bytes.Equal(ba, again) {
			t.Errorf("%s: same seed gave different bodies", p)
		}
		if bytes.Equal(ba, bc) && !strings.HasSuffix(p, "/resolutions") {
			t.Errorf("%s: different seeds gave the same object", p)
		}
	}
}

func TestSynthesizedVerdictSpread(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true, Seed: 1})
	counts := map[verdict.Verdict]int{}
	for i := range 300 {
		_, body := get(t, s, "/domains/host"+strconv.Itoa(i)+".example.com")
		o, err := vt.DecodeObject(body)
		if err != nil {
			t.Fatal(err)
		}
		st := o.Stats()
		v := verdict.Of(st, verdict.DefaultThresholds)
		counts[v]++
		results := o.Attributes.Map("last_analysis_results")
		if len(results) != st.Malicious+st.Suspicious+st.Undetected+st.Harmless+st.TypeUnsupported {
			t.Fatalf("results (%d) disagree with stats %+v", len(results), st)
		}
	}
	for _, v := range []verdict.Verdict{verdict.Malicious, verdict.Suspicious, verdict.Clean, verdict.Unknown} {
		if counts[v] < 10 {
			t.Errorf("only %d of 300 synthesised domains are %v: %v", counts[v], v, counts)
		}
	}
}

func TestSynthesizeRejectsInvalidIDs(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true})
	for _, p := range []string{"/files/xyz", "/ip_addresses/999.1.1.1", "/domains/no_tld", "/urls/!!!", "/urls/" + vt.URLID("mailto:a@b")} {
		if status, _ := get(t, s, p); status != 400 {
			t.Errorf("GET %s = %d, want 400", p, status)
		}
	}
}

func TestRelationshipsWithoutFixtures(t *testing.T) {
	plain := start(t, vttest.Options{})
	if status, body := get(t, plain, "/domains/example.com/resolutions"); status != 404 || errorCode(body) != "NotFoundError" {
		t.Errorf("unknown parent without synthesis = %d", status)
	}
	s := start(t, vttest.Options{Synthesize: true})
	for _, rel := range []string{"resolutions", "communicating_files", "subdomains", "historical_whois"} {
		status, body := get(t, s, "/domains/example.com/"+rel)
		var env struct {
			Data []vt.Object `json:"data"`
		}
		if err := json.Unmarshal(body, &env); status != 200 || err != nil || env.Data == nil {
			t.Errorf("%s = %d %s", rel, status, body)
		}
	}
	status, body := get(t, s, "/files/"+strings.Repeat("1", 64)+"/behaviour_summary")
	if status != 200 || !bytes.Contains(body, []byte("mitre_attack_techniques")) {
		t.Errorf("synthesised behaviour_summary = %d %s", status, body)
	}
}

func TestCursorEndsFixturePaging(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	s := start(t, vttest.Options{FixturesDir: dir})
	status, body := get(t, s, "/domains/github.com/resolutions?cursor=abc&limit=10")
	if status != 200 || !bytes.Contains(body, []byte(`"data":[]`)) {
		t.Errorf("cursor page = %d %s, want an empty last page", status, body)
	}
}

func TestRequestLogAndCount(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := start(t, vttest.Options{Synthesize: true, Clock: clock.Now})
	get(t, s, "/files/"+strings.Repeat("a", 32))
	get(t, s, "/domains/example.com?x=1")
	get(t, s, "/nothing")
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("log has %d requests, want 3", len(reqs))
	}
	if reqs[1].Path != "/domains/example.com" || reqs[1].Query != "x=1" || reqs[1].Status != 200 || !reqs[1].Time.Equal(clock.Now()) {
		t.Errorf("request 2 = %+v", reqs[1])
	}
	if reqs[2].Status != 404 {
		t.Errorf("unknown collection = %d, want 404", reqs[2].Status)
	}
	if s.Count("/files/") != 1 || s.Count("") != 3 {
		t.Errorf("Count = %d, %d", s.Count("/files/"), s.Count(""))
	}
	s.ResetRequests()
	if s.Count("") != 0 {
		t.Error("ResetRequests kept requests")
	}
}

func TestOutsideAPIPrefixHasNoErrorCode(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true})
	resp, err := http.Get(strings.TrimSuffix(s.URL(), vttest.APIPrefix) + "/v2/file/report")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || errorCode(body) != "" {
		t.Errorf("outside the API = %d %q, want a plain 404", resp.StatusCode, body)
	}
}

func TestFaultMatchesURLIndicator(t *testing.T) {
	s := start(t, vttest.Options{Synthesize: true})
	s.Inject(vttest.Fault{Match: "evil.example.com", Kind: vttest.Status, Status: 500})
	if status, _ := get(t, s, "/urls/"+vt.URLID("http://evil.example.com/x")); status != 500 {
		t.Errorf("fault by URL = %d, want 500", status)
	}
	if status, _ := get(t, s, "/urls/"+vt.URLID("http://good.example.com/x")); status != 200 {
		t.Errorf("other URL = %d, want 200", status)
	}
}
