package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// Premium limits configured for a key that VirusTotal holds to 1 request a
// minute: the run ends with a message about the rate limit and the config,
// not with a promise that the daily quota resets at 00:00 UTC.
func TestPerMinute429RunMessage(t *testing.T) {
	fake := startFake(t, vttest.Options{RPM: 1})
	h := newHome(t, fake, 600, 10000)
	text := fmt.Sprintf("[api]\ntier = \"premium\"\nper_minute = 600\nper_day = 10000\nconcurrency = 1\n"+
		"max_retries = 1\nrate_limit_wait = \"1ms\"\n\n[cache]\ndata_dir = %q\n", filepath.Join(h.dir, "data"))
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, stderr := startTriage(ctx, t, h, hashes(1, 3))
	r := wait(t, cmd, stdout, stderr)

	results := parseNDJSON(t, r.stdout)
	if len(results) != 3 {
		t.Fatalf("got %d results, want 3\nstderr:\n%s", len(results), r.stderr)
	}
	for _, res := range results[1:] {
		if res.Status != enrich.StatusQuota || res.Error != enrich.RateLimitedError {
			t.Errorf("%s: status %s error %q, want %s %q", res.Input, res.Status, res.Error, enrich.StatusQuota, enrich.RateLimitedError)
		}
	}
	if !strings.Contains(r.stderr, "rate-limited: 2 IOCs were not looked up") {
		t.Errorf("stderr does not report the rate limit:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "api.per_minute") {
		t.Errorf("stderr does not point at api.per_minute:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "00:00 UTC") {
		t.Errorf("stderr promises a daily reset for a per-minute 429:\n%s", r.stderr)
	}
	if r.code != 3 {
		t.Errorf("exit code = %d, want 3 (incomplete)", r.code)
	}
}
