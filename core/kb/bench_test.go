package kb_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vex-ioc/vex/core/kb"
)

// BenchmarkLocalMany measures attaching KB data to a batch of 1000 results
// of which 100 have tags, a note and a watchlist.
func BenchmarkLocalMany(b *testing.B) {
	ctx := context.Background()
	k, err := kb.Open(ctx, filepath.Join(b.TempDir(), "kb.db"), kb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1)
		if i%10 == 0 {
			if _, err := k.AddTags(ctx, keys[i], "seen", "case-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
			if _, err := k.AddNote(ctx, keys[i], "note"); err != nil {
				b.Fatal(err)
			}
			if _, err := k.AddToWatchlist(ctx, "bench", keys[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := k.LocalMany(ctx, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddTag measures one committed write: a tag on a new IOC.
func BenchmarkAddTag(b *testing.B) {
	ctx := context.Background()
	k, err := kb.Open(ctx, filepath.Join(b.TempDir(), "kb.db"), kb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	i := 0
	for b.Loop() {
		i++
		if _, err := k.AddTags(ctx, "10.2."+strconv.Itoa(i/250%250)+"."+strconv.Itoa(i%250+1), "t"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures opening an existing KB, including the integrity
// check every Open runs.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "kb.db")
	k, err := kb.Open(ctx, path, kb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		if _, err := k.AddNote(ctx, "10.3."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1), "a note of moderate length for the benchmark"); err != nil {
			b.Fatal(err)
		}
	}
	k.Close()
	for b.Loop() {
		k, err := kb.Open(ctx, path, kb.Options{})
		if err != nil {
			b.Fatal(err)
		}
		k.Close()
	}
}
