package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver core/cache uses

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/vt/vttest"
)

// runP6 fills a cache file with 1,000,000 entries holding real-shaped
// VirusTotal JSON and measures Get latency on random keys.
func runP6(ctx context.Context, e *env) (row, error) {
	r := row{Target: "p99 < 1 ms", Peer: "none (absolute figures)"}
	entries := pick(e, 1_000_000, 100_000)
	lookups := pick(e, 20_000, 2_000)
	path := filepath.Join(e.work, "cache.db")

	templates, err := vtTemplates(ctx, 64)
	if err != nil {
		return r, err
	}
	store, err := cache.Open(ctx, path, cache.Options{})
	if err != nil {
		return r, err
	}
	store.Close()
	start := time.Now()
	dataBytes, err := fillCache(ctx, path, entries, templates)
	if err != nil {
		return r, err
	}
	fillTime := time.Since(start)

	store, err = cache.Open(ctx, path, cache.Options{})
	if err != nil {
		return r, err
	}
	defer store.Close()
	st, err := store.Stats(ctx)
	if err != nil {
		return r, err
	}
	if st.Entries != entries {
		return r, fmt.Errorf("cache holds %d entries after the fill, want %d", st.Entries, entries)
	}

	// Random keys, so the page cache holds only what a real mix of hits
	// would touch; a warm-up pass first, as a long-running command has.
	rng := rand.New(rand.NewPCG(3, 4))
	var times []time.Duration
	for i := range lookups * 2 {
		k := cacheKey(rng.IntN(entries))
		t0 := time.Now()
		ent, fresh, err := store.Get(ctx, k)
		d := time.Since(t0)
		if err != nil || !fresh || len(ent.Data) == 0 {
			return r, fmt.Errorf("Get %s = fresh %v, %d bytes, %v; want a fresh hit", k, fresh, len(ent.Data), err)
		}
		if i >= lookups {
			times = append(times, d)
		}
	}
	p50, p99 := percentile(times, 50), percentile(times, 99)
	size := fileSize(path) + fileSize(path+"-wal")
	r.Vex = fmt.Sprintf("p50 %s, p99 %s; %.0f bytes/entry", ms(p50), ms(p99), float64(size)/float64(entries))
	r.Met = metWhen(p99 < time.Millisecond)
	r.Input = fmt.Sprintf("a cache.db with %d triage entries (sha256 keys), data cycled from %d objects of the fake VirusTotal "+
		"(average %.0f bytes of JSON), bulk-inserted in key order; %d Gets on random keys after %d warm-up Gets.",
		entries, len(templates), float64(dataBytes)/float64(entries), lookups, lookups)
	r.Command = []string{"cache.Open(cache.db) then store.Get(ctx, key) on random keys, timed one by one (bench/vexbench/p6.go)"}
	r.Details = append(r.Details,
		fmt.Sprintf("Get latency: p50 %s, p90 %s, p99 %s, max %s", ms(p50), ms(percentile(times, 90)), ms(p99), ms(percentile(times, 100))),
		fmt.Sprintf("file size %s for %d entries: %.0f bytes per entry on disk, of which %.0f bytes are the VirusTotal JSON", mib(size), entries, float64(size)/float64(entries), float64(dataBytes)/float64(entries)),
		fmt.Sprintf("fill time %s (bulk insert, not the Put path)", fillTime.Round(time.Second)),
		"Go benchmark of the same lookup: `go test -run '^$' -bench Get ./core/cache`")
	if p99 >= time.Millisecond {
		r.Why = "the slowest lookups read pages that are not in the page cache; with a file larger than memory the p99 is a disk read. " +
			"A smaller stored form (compressed JSON or only the fields a verdict needs) would keep more of the file in memory."
	}
	return r, nil
}

func cacheKey(i int) cache.Key {
	h := sha256.Sum256(fmt.Appendf(nil, "entry-%d", i))
	return cache.Key{Mode: "triage", Type: "sha256", Value: hex.EncodeToString(h[:])}
}

// vtTemplates fetches n file objects from a fake VirusTotal, the JSON the
// cache stores for real lookups.
func vtTemplates(ctx context.Context, n int) ([][]byte, error) {
	vt := vttest.New(vttest.Options{Synthesize: true, Seed: 7, APIKey: benchKey})
	if err := vt.Start(); err != nil {
		return nil, err
	}
	defer vt.Close()
	var out [][]byte
	for i := range n {
		k := cacheKey(i)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, vt.URL()+"/files/"+k.Value, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("x-apikey", benchKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch template %d from the fake VirusTotal: status %d: %v", i, resp.StatusCode, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// fillCache inserts n entries straight into the cache's table in one
// transaction, in key order and without a journal, and returns the JSON
// bytes written. Through the WAL every page is written twice, and random
// key order splits B-tree pages. On the bench machine that way took over
// five minutes for a million entries.
func fillCache(ctx context.Context, path string, n int, templates [][]byte) (int64, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = cacheKey(i).Value
	}
	slices.Sort(keys)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO entries (mode, type, value, status, data, fetched_at, expires_at) VALUES ('triage', 'sha256', ?, 'ok', ?, ?, ?)")
	if err != nil {
		return 0, err
	}
	now := time.Now()
	fetched, expires := now.UnixMilli(), now.Add(cache.DefaultTTL).UnixMilli()
	var total int64
	for i := range n {
		data := templates[i%len(templates)]
		total += int64(len(data))
		if _, err := stmt.ExecContext(ctx, keys[i], data, fetched, expires); err != nil {
			return 0, fmt.Errorf("insert entry %d: %w", i, err)
		}
	}
	return total, tx.Commit()
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
