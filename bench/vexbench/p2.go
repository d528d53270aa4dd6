package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// p2Limit is the per-minute limit of the P2 row, and p2Latency the fake
// VirusTotal's delay before every response.
const (
	p2Limit   = 1000
	p2Latency = 50 * time.Millisecond
)

// runP2 measures `vex triage` of 600 distinct IOCs against a fake
// VirusTotal that responds in 50 ms and enforces 1,000 requests a minute,
// against vex-ioc's batch triage on the same fake.
func runP2(ctx context.Context, e *env) (row, error) {
	n := pick(e, 600, 60)
	floor := time.Duration(float64(n) / p2Limit * float64(time.Minute))
	r := row{Target: fmt.Sprintf("≤ %.1f s (floor %.0f s + 5%%), zero 429s", floor.Seconds()*1.05, floor.Seconds())}
	iocPath := filepath.Join(e.work, "iocs.txt")
	if err := os.WriteFile(iocPath, []byte(strings.Join(p2IOCs(n), "\n")+"\n"), 0o600); err != nil {
		return r, err
	}
	r.Input = fmt.Sprintf("%d distinct IOCs (a quarter each SHA-256, public IPv4, domain, URL); a new fake VirusTotal per run "+
		"with %s latency and a sliding limit of %d requests/min; vex and vex-ioc both configured as premium with %d requests/min, cache cold.",
		n, p2Latency, p2Limit, p2Limit)
	r.Command = []string{
		"vex triage -f iocs.txt -o ndjson      # VEX_CONFIG: premium, per_minute = 1000, fresh data_dir per run",
		"bench/.venv/bin/python bench/peers/vexioc_triage.py BASE_URL iocs.txt",
	}

	runs := pick(e, 3, 1)
	var vexTimes []float64
	total429 := 0
	for i := range runs {
		d, n429, err := runVexTriage(ctx, e, iocPath, n, i)
		if err != nil {
			return r, err
		}
		vexTimes = append(vexTimes, d.Seconds())
		total429 += n429
	}
	vex := median(vexTimes)
	r.Vex = fmt.Sprintf("%.1f s, %d × 429", vex, total429)
	r.Details = append(r.Details, fmt.Sprintf("vex wall seconds: %s; 429 responses over all runs: %d", joinRuns(vexTimes, "%.2f"), total429))
	ok := vex <= floor.Seconds()*1.05 && total429 == 0

	if e.python == "" {
		r.Peer = "not run: no Python venv"
		r.Met = metWhen(ok)
		return r, nil
	}
	var peerTimes []float64
	peer429 := 0
	peerNote := ""
	for range runs {
		d, n429, note, err := runVexIOC(ctx, e, iocPath, n)
		if err != nil {
			peerNote = err.Error()
			peerTimes = nil
			break
		}
		peerTimes = append(peerTimes, d.Seconds())
		peer429 += n429
		peerNote = note
	}
	if len(peerTimes) == 0 {
		r.Peer = "vex-ioc failed: " + peerNote
		r.Met = metWhen(ok)
		return r, nil
	}
	peer := median(peerTimes)
	r.Peer = fmt.Sprintf("vex-ioc %.1f s, %d × 429", peer, peer429)
	r.Ratio = fmt.Sprintf("%.2fx (vex-ioc time / vex time)", peer/vex)
	r.Details = append(r.Details, fmt.Sprintf("vex-ioc wall seconds (its batch only, timed inside Python): %s; 429 responses: %d; %s", joinRuns(peerTimes, "%.2f"), peer429, peerNote))
	r.Met = metWhen(ok)
	r.Why = fmt.Sprintf("the %.0f s floor is the time an evenly spacing limiter needs for %d requests at %d a minute; vex-ioc spaces its "+
		"requests that way. vex's limiter, like VirusTotal's quota, counts requests in any 60 s window, so a batch smaller than the "+
		"limit is not held back: it finishes when its lookups do (%d in flight, %s each). The fake enforces the same window and "+
		"counted %d 429 responses to vex.", floor.Seconds(), n, p2Limit, config.DefaultConcurrency, p2Latency, total429)
	if !ok {
		r.Why = fmt.Sprintf("vex took %.1f s against a %.1f s budget with %d 429s; ", vex, floor.Seconds()*1.05, total429) +
			"a limiter that spaces requests evenly at the configured rate, with enough lookups in flight to hide the 50 ms latency, closes it."
	}
	return r, nil
}

// p2IOCs returns n distinct IOCs that the fake VirusTotal synthesises.
func p2IOCs(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 4 {
		case 0:
			h := sha256.Sum256(fmt.Appendf(nil, "p2-sample-%d", i))
			out[i] = hex.EncodeToString(h[:])
		case 1:
			out[i] = publicIP(20_000 + i)
		case 2:
			out[i] = fmt.Sprintf("host-%d.example-bench.com", i)
		default:
			out[i] = fmt.Sprintf("https://www.example-bench.net/path/%d?q=1", i)
		}
	}
	return out
}

func newP2Fake() (*vttest.Server, error) {
	vt := vttest.New(vttest.Options{Synthesize: true, Seed: 7, APIKey: benchKey, RPM: p2Limit, Latency: p2Latency})
	if err := vt.Start(); err != nil {
		return nil, fmt.Errorf("start fake VirusTotal: %w", err)
	}
	return vt, nil
}

func count429(vt *vttest.Server) int {
	n := 0
	for _, req := range vt.Requests() {
		if req.Status == 429 {
			n++
		}
	}
	return n
}

func runVexTriage(ctx context.Context, e *env, iocPath string, n, run int) (time.Duration, int, error) {
	vt, err := newP2Fake()
	if err != nil {
		return 0, 0, err
	}
	defer vt.Close()
	dir := filepath.Join(e.work, fmt.Sprintf("vex-%d", run))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, 0, err
	}
	cfg := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("[api]\nbase_url = %q\ntier = \"premium\"\nper_minute = %d\nper_day = 100000\n\n[cache]\ndata_dir = %q\n", vt.URL(), p2Limit, filepath.Join(dir, "data"))
	if err := writeFile0600(cfg, text); err != nil {
		return 0, 0, err
	}
	var out bytes.Buffer
	env := []string{"HOME=" + dir, "VEX_CONFIG=" + cfg, "VT_API_KEY=" + benchKey, "PATH=" + os.Getenv("PATH")}
	pr, err := runProc(ctx, procSpec{Path: e.path("vex"), Args: []string{"triage", "-f", iocPath, "-o", "ndjson"}, Env: env, Stdout: &out})
	// Exit codes 1 to 3 report verdicts (suspicious, malicious) or
	// incomplete results, which the line count below checks.
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() > 3) {
		return 0, 0, err
	}
	lines := strings.Count(out.String(), "\n")
	if lines != n {
		return 0, 0, fmt.Errorf("vex triage printed %d results, want %d (%v)", lines, n, err)
	}
	if got := vt.Count(""); got < n {
		return 0, 0, fmt.Errorf("the fake VirusTotal saw %d requests, want at least %d", got, n)
	}
	if errs := strings.Count(out.String(), `"error":"`); errs > 0 {
		return 0, 0, fmt.Errorf("vex triage returned %d results with an error", errs)
	}
	return pr.Wall, count429(vt), nil
}

func runVexIOC(ctx context.Context, e *env, iocPath string, n int) (time.Duration, int, string, error) {
	vt, err := newP2Fake()
	if err != nil {
		return 0, 0, "", err
	}
	defer vt.Close()
	home, err := os.MkdirTemp(e.work, "vexioc")
	if err != nil {
		return 0, 0, "", err
	}
	var out bytes.Buffer
	env := []string{"HOME=" + home, "VT_API_KEY=" + benchKey, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := runProc(pctx, procSpec{Path: e.python, Args: []string{filepath.Join(e.peers, "vexioc_triage.py"), vt.URL(), iocPath}, Env: env, Stdout: &out}); err != nil {
		return 0, 0, "", err
	}
	var res struct {
		IOCs, Results, Failed int
		Seconds               float64
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return 0, 0, "", fmt.Errorf("decode vex-ioc driver output %q: %w", out.String(), err)
	}
	note := fmt.Sprintf("vex-ioc returned %d results for %d IOCs, %d failed, and sent %d requests", res.Results, res.IOCs, res.Failed, vt.Count(""))
	return time.Duration(res.Seconds * float64(time.Second)), count429(vt), note, nil
}
