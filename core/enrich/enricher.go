package enrich

import (
	"context"
	"errors"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
)

// Enricher is one intelligence source. VirusTotal is the built-in one; others
// plug in by implementing this interface and registering with the engine.
//
// Fetch returns the source's response as a Record, which the engine caches
// as-is; Decode turns a Record, fresh or cached, into result fields. Keeping
// the two apart means a cache hit and a fresh lookup produce the same result.
type Enricher interface {
	// Name identifies the source in logs and cache keys, e.g. "virustotal".
	Name() string
	// Supports reports whether the source can look up indicators of type t.
	Supports(t ioc.Type) bool
	// Fetch looks up one indicator. A "not found" response is a Record with
	// RecordNotFound, not an error. Errors wrap ErrQuota, ErrUnauthorized or
	// context errors when those are the cause.
	Fetch(ctx context.Context, i ioc.IOC, mode Mode) (Record, error)
	// Decode fills r from rec. It must accept every Record Fetch returns,
	// including ones cached by earlier versions, and report malformed data
	// as an error rather than panic.
	Decode(i ioc.IOC, rec Record, r *Result) error
}

// RecordStatus is the kind of response a Record contains.
type RecordStatus string

const (
	RecordOK       RecordStatus = "ok"
	RecordNotFound RecordStatus = "not_found"
	// RecordPartial is an investigation with some sections missing. It is
	// cached with a shorter lifetime than a complete one.
	RecordPartial RecordStatus = "partial"
)

// Record is a source's raw response for one indicator.
type Record struct {
	Status RecordStatus
	Data   []byte // source-specific, e.g. the VirusTotal JSON body
	// Stale is set when an intermediary (a vex serve gateway) returned
	// an expired copy because the source itself failed. The engine
	// reports it as SourceStaleCache and does not cache it.
	Stale bool
	// FetchedAt is when an intermediary's cached copy (Stale or not) was
	// fetched from the source, from its Age header. It is zero when the
	// record came straight from the source or had no Age header.
	FetchedAt time.Time
}

// Errors that Enricher.Fetch wraps so the engine can classify failures
// without knowing the source.
var (
	// ErrQuota means the request quota is spent (daily quota, or the API
	// kept returning 429 after retries). The batch stops issuing requests.
	ErrQuota = errors.New("quota exhausted")
	// ErrRateLimited means the API kept returning 429 for its per-minute
	// rate, not for a spent daily quota. Fetch wraps it together with
	// ErrQuota, so the batch stops as for a spent quota, but the result
	// names the rate limit and promises no reset time.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnauthorized means the source rejected the API key. The batch stops.
	ErrUnauthorized = errors.New("api key rejected")
)
