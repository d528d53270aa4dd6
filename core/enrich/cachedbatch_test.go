package enrich

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/verdict"
)

// cachedBatchFixture writes a cache file with fresh, expired,
// investigate-only and not_found entries, and returns its path and the
// clock time the entries are judged at.
func cachedBatchFixture(t *testing.T) (string, time.Time) {
	t.Helper()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "cache.db")
	c, err := cache.Open(context.Background(), path, cache.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	put := func(mode Mode, typ, value string, s *verdict.Stats, age time.Duration) {
		e := cache.Entry{Key: cache.Key{Mode: string(mode), Type: typ, Value: value}, Status: cache.StatusNotFound, FetchedAt: now.Add(-age)}
		if s != nil {
			e.Status = cache.StatusOK
			e.Data, _ = json.Marshal(s)
		}
		if err := c.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	put(Triage, "domain", "evil.com", &bad, time.Hour)
	put(Triage, "ipv4", "8.8.8.8", &clean, 3*time.Hour)
	put(Triage, "domain", "old.example", &bad, 48*time.Hour)       // expired
	put(Investigate, "domain", "deep.example", &bad, time.Hour)    // serves triage too
	put(Triage, "domain", "gone.example", nil, time.Minute)        // not_found
	put(Investigate, "domain", "evil.com", &clean, 10*time.Minute) // must not replace the fresh triage entry
	return path, now
}

// newCachedEngine opens a copy of the cache file at path in its own
// directory, so two engines start from the same entries.
func newCachedEngine(t *testing.T, path string, now time.Time, src *fakeSource) *Engine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "cache.db")
	if err := os.WriteFile(own, data, 0o600); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	c, err := cache.Open(context.Background(), own, cache.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	kb := fakeKB{"evil.com": {Tags: []string{"apt-x"}}, "8.8.8.8": {Watchlists: []string{"dns"}}}
	return New(Options{Enrichers: []Enricher{src}, Cache: c, KB: kb, Now: clock, Concurrency: 2})
}

func TestBatchCachedMatchesBatch(t *testing.T) {
	path, now := cachedBatchFixture(t)
	inputs := []string{
		"evil[.]com", "8.8.8.8", "old.example", "deep.example", "gone.example",
		"new.example", "not an ioc", "10.1.2.3", "EVIL.com.", "8.8.8.8", "",
	}
	stats := map[string]verdict.Stats{"old.example": clean, "deep.example": clean, "new.example": bad}
	for _, req := range []Request{{}, {MaxAge: 2 * time.Hour}, {Offline: true}, {NoLocal: true}, {Mode: Investigate}} {
		want := make([]Result, len(inputs))
		newCachedEngine(t, path, now, &fakeSource{stats: stats}).Batch(context.Background(), inputs, req, func(i int, r Result) {
			want[i] = r
		})

		src := &fakeSource{stats: stats}
		got := make([]Result, len(inputs))
		emitted := make([]int, len(inputs))
		bs := newCachedEngine(t, path, now, src).BatchCached(context.Background(), inputs, req, func(i int, r Result) {
			got[i] = r
			emitted[i]++
		})
		for i, in := range inputs {
			if emitted[i] != 1 {
				t.Errorf("%+v: %q emitted %d times, want once", req, in, emitted[i])
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%+v: %q\n got  %+v\n want %+v", req, in, got[i], want[i])
			}
		}
		if bs.Inputs != len(inputs) || bs.Distinct != 9 || bs.Duplicates != 2 {
			t.Errorf("%+v: stats %+v, want 11 inputs, 9 distinct, 2 duplicates", req, bs)
		}
		for _, v := range src.fetched {
			if v == "evil.com" || v == "gone.example" {
				t.Errorf("%+v: fetched %s, which has a fresh cache entry", req, v)
			}
		}
	}
}

func TestBatchCachedWithoutBatchGetter(t *testing.T) {
	src := &fakeSource{stats: map[string]verdict.Stats{"evil.com": bad}}
	e := New(Options{Enrichers: []Enricher{src}, Cache: cache.Nop{}})
	var got []Result
	e.BatchCached(context.Background(), []string{"evil.com", "evil.com"}, Request{}, func(i int, r Result) { got = append(got, r) })
	if len(got) != 2 || got[0].Source != SourceAPI || got[0].Verdict != verdict.Malicious {
		t.Fatalf("results %+v, want two malicious results from the API", got)
	}
}
