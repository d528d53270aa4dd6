package enrich_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/secret"
	"github.com/vex-ioc/vex/core/vt"
)

const staleObject = `{"data":{"id":"9.9.9.9","type":"ip_address","attributes":` +
	`{"last_analysis_stats":{"malicious":0,"suspicious":0,"undetected":10,"harmless":60}}}}`

// staleGateway is a stand-in for a vex serve gateway whose upstream failed,
// so it returns for every object request with an expired entry from its cache.
func staleGateway(t *testing.T, age string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-Vex-Cache", "stale")
		if age != "" {
			w.Header().Set("Age", age)
		}
		_, _ = w.Write([]byte(staleObject))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A stale response from the gateway is reported as stale, with the fetch time
// from the Age header. It is not cached, because a cache entry would present
// data of unknown age as a fresh lookup for the cache's whole TTL.
func TestGatewayStaleAnswerNotFresh(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		age  string
		want time.Time
	}{
		{name: "with_age", age: "7200", want: now.Add(-2 * time.Hour)},
		{name: "without_age", want: time.Time{}},
		{name: "invalid_age", age: "soon", want: time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := staleGateway(t, c.age)
			client, err := vt.New(vt.Config{BaseURL: srv.URL, APIKey: secret.New(testKey), MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			store, err := cache.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"),
				cache.Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			e := enrich.New(enrich.Options{
				Enrichers: []enrich.Enricher{&enrich.VirusTotal{Client: client, Now: func() time.Time { return now }}},
				Cache:     store,
				Now:       func() time.Time { return now },
			})

			r := e.Lookup(context.Background(), "9.9.9.9", enrich.Request{})

			if r.Status != enrich.StatusOK {
				t.Fatalf("status = %s (%s), want ok", r.Status, r.Error)
			}
			if r.Source != enrich.SourceStaleCache {
				t.Errorf("source = %s, want %s", r.Source, enrich.SourceStaleCache)
			}
			if !r.FetchedAt.Equal(c.want) {
				t.Errorf("fetched_at = %v, want %v", r.FetchedAt, c.want)
			}
			key := cache.Key{Mode: string(enrich.Triage), Type: "ipv4", Value: "9.9.9.9"}
			if _, _, err := store.Get(context.Background(), key); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("cache Get after a stale answer: err = %v, want a miss", err)
			}
		})
	}
}

// gatewayHit is a stand-in for a vex serve gateway that responds from its
// cache with the Age of its entry.
func gatewayHit(t *testing.T, age string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-Vex-Cache", "hit")
		w.Header().Set("Age", age)
		_, _ = w.Write([]byte(staleObject))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A fresh response from the gateway's cache keeps the time of the
// VirusTotal request. The result carries it, and the client's cache entry
// expires by the client's TTL counted from then, so a 23-hour-old gateway
// entry does not live another full day on every client.
func TestGatewayHitKeepsFetchTime(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	srv := gatewayHit(t, "82800") // 23 h
	client, err := vt.New(vt.Config{BaseURL: srv.URL, APIKey: secret.New(testKey), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"),
		cache.Options{TTL: 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := enrich.New(enrich.Options{
		Enrichers: []enrich.Enricher{&enrich.VirusTotal{Client: client, Now: func() time.Time { return now }}},
		Cache:     store,
		Now:       func() time.Time { return now },
	})

	r := e.Lookup(context.Background(), "9.9.9.9", enrich.Request{})
	want := now.Add(-23 * time.Hour)
	if r.Status != enrich.StatusOK || r.Source != enrich.SourceAPI || !r.FetchedAt.Equal(want) {
		t.Errorf("status %s source %s fetched_at %v, want ok from api fetched at %v", r.Status, r.Source, r.FetchedAt, want)
	}
	key := cache.Key{Mode: string(enrich.Triage), Type: "ipv4", Value: "9.9.9.9"}
	entry, _, err := store.Get(context.Background(), key)
	if err != nil || !entry.FetchedAt.Equal(want) || !entry.ExpiresAt.Equal(want.Add(24*time.Hour)) {
		t.Errorf("cache entry fetched %v expires %v (err %v), want %v and %v", entry.FetchedAt, entry.ExpiresAt, err, want, want.Add(24*time.Hour))
	}
}
