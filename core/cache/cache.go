// Package cache stores VirusTotal lookup results with a time to live, so a
// repeated IOC costs no API request.
//
// [SQLite] is the store every vex process on a host shares through one file;
// [Nop] stores nothing and is what callers use when the cache file is corrupt,
// locked or read-only ([OpenOrNop]), so a broken cache slows vex down but never
// stops it or loses a result. Entries hold the raw VirusTotal JSON, never the
// API key: the store is not given one.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Entry statuses. The status sets the time to live.
const (
	StatusOK       = "ok"        // a full VirusTotal object
	StatusNotFound = "not_found" // VirusTotal has no record of the IOC
	StatusPartial  = "partial"   // investigate data with some sections missing
)

// ErrMiss is returned by Get when the key has no entry, fresh or expired.
var ErrMiss = errors.New("cache miss")

// ErrUnavailable is wrapped by every error about the cache file itself:
// corrupt, locked, read-only, full or from a newer vex. Callers log it and
// carry on without the cache.
var ErrUnavailable = errors.New("cache unavailable")

// ErrCorrupt is wrapped, together with ErrUnavailable, when the cache file is
// not a valid SQLite database. Removing the file with RemoveFiles fixes it.
var ErrCorrupt = fmt.Errorf("%w: corrupt cache file", ErrUnavailable)

// ErrInvalidEntry is wrapped by Put for an entry with an empty key field or
// an unknown status.
var ErrInvalidEntry = errors.New("invalid cache entry")

// Key identifies one lookup: the lookup mode (triage or investigate), the IOC
// type and the normalised IOC.
type Key struct {
	Mode  string
	Type  string
	Value string
}

func (k Key) String() string { return k.Mode + "/" + k.Type + "/" + k.Value }

// Entry is one cached lookup.
type Entry struct {
	Key
	Status    string    // StatusOK, StatusNotFound or StatusPartial
	Data      []byte    // raw VirusTotal JSON; empty for StatusNotFound
	FetchedAt time.Time // when the data came from VirusTotal
	ExpiresAt time.Time // set by Put from FetchedAt and the status's TTL
}

// Stats describe the cache contents.
type Stats struct {
	Path     string         // cache file, empty for Nop
	Entries  int            // all entries
	Fresh    int            // entries not yet expired
	Expired  int            // expired entries kept for serving stale results
	ByStatus map[string]int // entries per status
	Bytes    int64          // database size, excluding the WAL
}

// Store is the cache interface the enrichment engine uses. SQLite and Nop
// implement it here; the gateway adds a Redis one.
type Store interface {
	// Get returns the entry for k and whether it is still fresh. An
	// expired entry is returned with fresh=false, so a caller that cannot
	// reach the API may still serve it. A missing entry returns ErrMiss.
	Get(ctx context.Context, k Key) (e Entry, fresh bool, err error)
	// Put stores e, replacing any entry for e.Key, and sets e.ExpiresAt
	// from the status's TTL.
	Put(ctx context.Context, e Entry) error
	// Delete removes the entry for k; a missing entry is not an error.
	Delete(ctx context.Context, k Key) error
	// Clear removes every entry and returns how many there were.
	Clear(ctx context.Context) (int, error)
	Stats(ctx context.Context) (Stats, error)
	Close() error
}

// Options tune a store. Zero durations take the defaults.
type Options struct {
	TTL         time.Duration // StatusOK; default 24h
	NotFoundTTL time.Duration // StatusNotFound; default 4h, so a new sample shows up the same day
	PartialTTL  time.Duration // StatusPartial; default 1h, so missing sections are retried soon
	// MaxStale is how long an expired entry is kept for stale results
	// before it is pruned. The default is 7 days.
	MaxStale time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Defaults for Options.
const (
	DefaultTTL         = 24 * time.Hour
	DefaultNotFoundTTL = 4 * time.Hour
	DefaultPartialTTL  = time.Hour
	DefaultMaxStale    = 7 * 24 * time.Hour
)

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NotFoundTTL <= 0 {
		o.NotFoundTTL = DefaultNotFoundTTL
	}
	if o.PartialTTL <= 0 {
		o.PartialTTL = DefaultPartialTTL
	}
	if o.MaxStale <= 0 {
		o.MaxStale = DefaultMaxStale
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ttl returns the time to live for status.
func (o Options) ttl(status string) time.Duration {
	switch status {
	case StatusNotFound:
		return o.NotFoundTTL
	case StatusPartial:
		return o.PartialTTL
	}
	return o.TTL
}

func validate(e Entry) error {
	if e.Mode == "" || e.Type == "" || e.Value == "" {
		return fmt.Errorf("%w: key %q has an empty field", ErrInvalidEntry, e.Key.String())
	}
	switch e.Status {
	case StatusOK, StatusNotFound, StatusPartial:
		return nil
	}
	return fmt.Errorf("%w: status %q for %s, want ok, not_found or partial", ErrInvalidEntry, e.Status, e.Key)
}

// Nop is a Store that keeps nothing: Get always misses and Put succeeds.
type Nop struct{}

var _ Store = Nop{}

// Get always returns ErrMiss.
func (Nop) Get(context.Context, Key) (Entry, bool, error) { return Entry{}, false, ErrMiss }

// Put discards e after checking it, so callers see the same validation errors
// with and without a cache.
func (Nop) Put(_ context.Context, e Entry) error { return validate(e) }

// Delete does nothing.
func (Nop) Delete(context.Context, Key) error { return nil }

// Clear removes nothing and returns 0.
func (Nop) Clear(context.Context) (int, error) { return 0, nil }

// Stats returns empty statistics.
func (Nop) Stats(context.Context) (Stats, error) { return Stats{ByStatus: map[string]int{}}, nil }

// Close does nothing.
func (Nop) Close() error { return nil }
