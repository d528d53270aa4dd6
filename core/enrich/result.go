// Package enrich defines the enrichment result model, the Enricher interface
// for intelligence sources, and the engine that runs triage, investigate and
// batches under the cache, the rate limiter and the daily quota.
package enrich

import (
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/timeline"
	"github.com/vex-ioc/vex/core/verdict"
)

// Mode selects how much a lookup fetches.
type Mode string

const (
	// Triage spends one API request per indicator.
	Triage Mode = "triage"
	// Investigate adds relationship and behaviour requests.
	Investigate Mode = "investigate"
)

// Source is where a result came from.
type Source string

const (
	SourceAPI        Source = "api"         // fetched from the API in this run
	SourceCache      Source = "cache"       // a fresh cache entry
	SourceStaleCache Source = "stale_cache" // an expired entry, served because the API was unavailable
	SourceNone       Source = "none"        // no data: invalid, skipped or failed
)

// Status is what happened to one indicator. Every input ends with exactly
// one status, so a batch can account for each line it was given.
type Status string

const (
	StatusOK          Status = "ok"              // enriched
	StatusNotFound    Status = "not_found"       // the source has no record of it
	StatusInvalid     Status = "invalid"         // not a valid indicator; Error holds the reason
	StatusNonRoutable Status = "non_routable"    // private or reserved address, not looked up
	StatusOfflineMiss Status = "not_cached"      // offline mode and nothing cached
	StatusQuota       Status = "quota_exhausted" // not looked up because the quota ran out
	StatusAuth        Status = "unauthorized"    // the API rejected the key
	StatusFailed      Status = "failed"          // lookup failed; Error gives the reason
	StatusCancelled   Status = "cancelled"       // the run stopped before this lookup
)

// Enriched reports whether the status means the source responded, either with
// data or with "not found".
func (s Status) Enriched() bool { return s == StatusOK || s == StatusNotFound }

// Result is the outcome for one indicator. Fields that come from VirusTotal
// are empty when Status is not StatusOK.
type Result struct {
	Input      string          `json:"input"`
	Type       ioc.Type        `json:"type,omitempty"`
	Normalized string          `json:"normalized,omitempty"`
	Flags      []ioc.Flag      `json:"flags,omitempty"`
	Mode       Mode            `json:"mode"`
	Status     Status          `json:"status"`
	Error      string          `json:"error,omitempty"`
	Verdict    verdict.Verdict `json:"verdict"`
	Stats      verdict.Stats   `json:"stats"`
	Engines    int             `json:"engines"`
	Reputation int             `json:"reputation"`
	Source     Source          `json:"source"`
	// FetchedAt is when the data was fetched from the source, which for a
	// cache hit is earlier than the run.
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	Permalink string    `json:"permalink,omitempty"`
	// Summary holds the type-specific facts an analyst reads first.
	Summary Summary `json:"summary,omitzero"`
	// Local holds the analyst's own knowledge-base entries for the IOC.
	Local Local `json:"local,omitzero"`
	// Timeline lists the dated facts about the IOC, oldest first.
	Timeline []timeline.Event `json:"timeline,omitempty"`
	// Investigation is set by investigate only.
	Investigation *Investigation `json:"investigation,omitempty"`
}

// Summary holds the facts of a VirusTotal object that triage shows. Each
// field is set only for the types where VirusTotal has it.
type Summary struct {
	ThreatLabel       string      `json:"threat_label,omitempty"` // popular_threat_classification.suggested_threat_label
	Detections        []Detection `json:"detections,omitempty"`   // engines that flagged it, malicious first
	Tags              []string    `json:"tags,omitempty"`
	Name              string      `json:"name,omitempty"`      // files: meaningful_name
	FileType          string      `json:"file_type,omitempty"` // files: type_description
	Size              int64       `json:"size,omitempty"`
	Country           string      `json:"country,omitempty"`
	ASN               int64       `json:"asn,omitempty"`
	ASOwner           string      `json:"as_owner,omitempty"`
	Network           string      `json:"network,omitempty"`
	Registrar         string      `json:"registrar,omitempty"`
	FinalURL          string      `json:"final_url,omitempty"`
	Title             string      `json:"title,omitempty"`
	Categories        []string    `json:"categories,omitempty"`
	FirstSubmission   time.Time   `json:"first_submission,omitzero"`
	LastSubmission    time.Time   `json:"last_submission,omitzero"`
	LastAnalysis      time.Time   `json:"last_analysis,omitzero"`
	CreationDate      time.Time   `json:"creation_date,omitzero"`
	TimesSubmitted    int64       `json:"times_submitted,omitempty"`
	CommunityHarmful  int64       `json:"community_malicious,omitempty"` // total_votes.malicious
	CommunityHarmless int64       `json:"community_harmless,omitempty"`  // total_votes.harmless
}

// Detection is one engine's verdict from last_analysis_results.
type Detection struct {
	Engine   string `json:"engine"`
	Category string `json:"category"`         // malicious or suspicious
	Result   string `json:"result,omitempty"` // the engine's label
}

// Local is the analyst's knowledge-base data for one IOC.
type Local struct {
	Tags       []string `json:"tags,omitempty"`
	Notes      []Note   `json:"notes,omitempty"`
	Watchlists []string `json:"watchlists,omitempty"`
}

// Note is one free-text note from the knowledge base.
type Note struct {
	ID      int64     `json:"id"`
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
}
