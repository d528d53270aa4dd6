package enrich_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// A response with impossible counts is an invalid response: the lookup
// fails and nothing is cached, instead of an "ok" result with zero counts.
func TestImpossibleCountsFailUncached(t *testing.T) {
	const hash = "3f71c9a34f5616d073c35431f866b1908ffc56e7e9e02c2ef35c0449c50f95ae"
	fake := startSynthFake(t, vttest.Options{})
	fake.Inject(vttest.Fault{Kind: vttest.Status, Status: http.StatusOK, Match: "/files/" + hash,
		Body: []byte(`{"data":{"id":"x","type":"file","attributes":{"last_analysis_stats":` +
			`{"malicious":-5,"suspicious":99999999999,"undetected":-1,"harmless":0}}}}`)})
	client, err := vt.New(vt.Config{BaseURL: fake.URL(), APIKey: secret.New(testKey), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := enrich.New(enrich.Options{Enrichers: []enrich.Enricher{&enrich.VirusTotal{Client: client}}, Cache: store})

	r := e.Lookup(context.Background(), hash, enrich.Request{})

	if r.Status != enrich.StatusFailed || !strings.Contains(r.Error, "invalid virustotal response") {
		t.Errorf("status = %s (%q), want failed with an invalid response", r.Status, r.Error)
	}
	key := cache.Key{Mode: string(enrich.Triage), Type: "sha256", Value: hash}
	if _, _, err := store.Get(context.Background(), key); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("cache Get: err = %v, want a miss", err)
	}
}
