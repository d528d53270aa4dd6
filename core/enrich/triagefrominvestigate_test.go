package enrich_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// An investigation fetches the object report that triage needs, so a
// triage right after it is served from the investigate cache entry, online
// and offline, with no request and the same result as a triage of its own.
func TestTriageReusesInvestigation(t *testing.T) {
	fake := startSynthFake(t, vttest.Options{Seed: 2})
	dir := t.TempDir()
	cfg := config.DefaultFor(dir)
	cfg.Cache.DataDir = filepath.Join(dir, "data")
	cfg.API.BaseURL = fake.URL()
	cfg.API.PerMinute, cfg.API.PerDay = 1000, 1000
	e, err := enrich.Open(context.Background(), cfg, secret.New(testKey), enrich.OpenOptions{NoLedger: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const hash = "44d88612fea8a8f36de82e1278abb02f"

	if r := e.Lookup(ctx, hash, enrich.Request{Mode: enrich.Investigate}); r.Status != enrich.StatusOK {
		t.Fatalf("investigate status = %s (%s), want ok", r.Status, r.Error)
	}
	before := len(fake.Requests())

	offline := e.Lookup(ctx, hash, enrich.Request{Offline: true})
	online := e.Lookup(ctx, hash, enrich.Request{})

	if n := len(fake.Requests()) - before; n != 0 {
		t.Errorf("triage after investigate sent %d requests, want 0", n)
	}
	for name, r := range map[string]enrich.Result{"offline": offline, "online": online} {
		if r.Status != enrich.StatusOK || r.Source != enrich.SourceCache {
			t.Errorf("%s triage: status %s source %s (%s), want ok from cache", name, r.Status, r.Source, r.Error)
		}
		if r.Mode != enrich.Triage || r.Investigation != nil {
			t.Errorf("%s triage: mode %s, investigation set %v; want a plain triage result", name, r.Mode, r.Investigation != nil)
		}
	}

	fresh := e.Lookup(ctx, hash, enrich.Request{NoCache: true})
	if !reflect.DeepEqual(fresh.Timeline, online.Timeline) || fresh.Stats != online.Stats || !reflect.DeepEqual(fresh.Summary, online.Summary) {
		t.Errorf("triage from the investigate entry differs from a fetched triage:\n got %+v\nwant %+v", online, fresh)
	}
}
