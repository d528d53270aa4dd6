package cache

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestGetManyMatchesGet stores entries of two modes and types, fresh and
// expired, across more values than one query binds, and checks that
// GetMany returns for every key what Get returns.
func TestGetManyMatchesGet(t *testing.T) {
	c := &clock{now: t0}
	s := newStore(t, c)
	ctx := context.Background()

	var keys []Key
	for i := range 2 * getManyChunk {
		k := Key{Mode: "triage", Type: "ipv4", Value: fmt.Sprintf("45.0.%d.%d", i/250, 1+i%250)}
		keys = append(keys, k)
		if i%7 == 3 {
			continue // a miss
		}
		e := Entry{Key: k, Status: StatusOK, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
		if i%5 == 0 {
			e.FetchedAt = t0.Add(-2 * DefaultTTL) // expired
		}
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	nf := Key{Mode: "investigate", Type: "domain", Value: "example.com"}
	if err := s.Put(ctx, Entry{Key: nf, Status: StatusNotFound}); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, nf, keys[0], Key{Mode: "investigate", Type: "ipv4", Value: keys[1].Value})

	found, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	hits := 0
	for _, k := range keys {
		want, wantFresh, getErr := s.Get(ctx, k)
		got, ok := found[k]
		if getErr != nil {
			if ok {
				t.Errorf("GetMany returned %s, which Get misses (%v)", k, getErr)
			}
			continue
		}
		if !ok {
			t.Errorf("GetMany left out %s, which Get returns", k)
			continue
		}
		hits++
		if got.Fresh != wantFresh {
			t.Errorf("%s: fresh %v, Get says %v", k, got.Fresh, wantFresh)
		}
		if got.Entry.Key != want.Key || got.Entry.Status != want.Status || !bytes.Equal(got.Entry.Data, want.Data) {
			t.Errorf("%s: entry %+v, Get returns %+v", k, got.Entry, want)
		}
		if !got.Entry.FetchedAt.Equal(want.FetchedAt) || !got.Entry.ExpiresAt.Equal(want.ExpiresAt) {
			t.Errorf("%s: times %v/%v, Get returns %v/%v", k, got.Entry.FetchedAt, got.Entry.ExpiresAt, want.FetchedAt, want.ExpiresAt)
		}
	}
	if want := len(found); hits < want {
		t.Errorf("GetMany returned %d entries, only %d of them for the keys asked", want, hits)
	}
	if hits < getManyChunk {
		t.Errorf("only %d hits: the test does not cover a second query", hits)
	}
}

func TestGetManyEmpty(t *testing.T) {
	s := newStore(t, &clock{now: t0})
	found, err := s.GetMany(context.Background(), nil)
	if err != nil || len(found) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v; want an empty map", found, err)
	}
}

func TestGetManyCancelled(t *testing.T) {
	s := newStore(t, &clock{now: t0})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetMany(ctx, []Key{key}); err == nil {
		t.Fatal("GetMany with a cancelled context returned no error")
	}
}

// BenchmarkGetMany reads 1,000 cached entries in one call, to compare with
// 1,000 calls of BenchmarkGet.
func BenchmarkGetMany(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "cache.db"), Options{})
	fill(b, s, 1000)
	keys := make([]Key, 1000)
	for i := range keys {
		keys[i] = Key{"triage", "sha256", fmt.Sprintf("%064x", i)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		found, err := s.GetMany(ctx, keys)
		if err != nil || len(found) != len(keys) {
			b.Fatalf("GetMany: %d found, %v", len(found), err)
		}
	}
}
