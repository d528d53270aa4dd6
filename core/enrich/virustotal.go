package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/ratelimit"
	"github.com/vex-ioc/vex/core/timeline"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
)

// VirusTotal is the built-in Enricher, backed by the VirusTotal v3 API.
type VirusTotal struct {
	Client *vt.Client
	// Thresholds set the verdicts of related objects in investigations.
	Thresholds verdict.Thresholds
	// Quota is told when VirusTotal reports the daily quota spent, so every
	// process sharing the ledger stops asking until the UTC day ends. Nil
	// means no shared quota.
	Quota interface {
		MarkExhausted(ctx context.Context) error
	}
	// Investigate sets the relationship lists fetched by investigate.
	Relationships RelationshipLimits
	// Now returns the current time, for the fetch time of a stale gateway
	// response; nil means time.Now.
	Now func() time.Time
}

// RelationshipLimits bound investigate's relationship lists.
type RelationshipLimits struct {
	PageSize int // items requested per page; default 20
	MaxItems int // items kept per relationship; default 40
}

// Name returns "virustotal".
func (v *VirusTotal) Name() string { return "virustotal" }

// Supports reports true for every IOC type: VirusTotal has objects for all.
func (v *VirusTotal) Supports(ioc.Type) bool { return true }

// Fetch gets the object report, plus relationships and behaviour for
// investigate.
func (v *VirusTotal) Fetch(ctx context.Context, i ioc.IOC, mode Mode) (Record, error) {
	if mode == Investigate {
		return v.investigate(ctx, i)
	}
	obj, meta, err := v.Client.GetObjectMeta(ctx, i.Type, i.Value)
	if errors.Is(err, vt.ErrNotFound) {
		return Record{Status: RecordNotFound}, nil
	}
	if err != nil {
		return Record{}, v.classify(ctx, err)
	}
	rec := Record{Status: RecordOK, Data: envelope(obj.Raw), Stale: meta.Stale}
	if meta.HasAge {
		// A gateway that responds from its cache sends the age of its copy.
		rec.FetchedAt = v.now().Add(-meta.Age).UTC()
	}
	return rec, nil
}

func (v *VirusTotal) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// dailyQuotaRetryAfter separates the two 429s VirusTotal sends: the
// per-minute rate asks for a retry within a minute, while a spent daily
// quota asks for hours, until the UTC day ends.
const dailyQuotaRetryAfter = time.Minute

// classify wraps err like classify does and, when VirusTotal reports the
// daily quota spent, records that in the shared quota.
func (v *VirusTotal) classify(ctx context.Context, err error) error {
	var vtErr *vt.Error
	if v.Quota != nil && errors.As(err, &vtErr) && isDailyQuota429(vtErr) {
		if merr := v.Quota.MarkExhausted(ctx); merr != nil {
			err = fmt.Errorf("%w (recording the spent quota also failed: %v)", err, merr)
		}
	}
	return classify(err)
}

// isDailyQuota429 reports whether a 429 means the daily quota is spent: a
// Retry-After beyond a minute, or a message that names the daily quota. Any
// other 429 (VirusTotal's "Quota exceeded: more than N requests per
// minute", a bare 429, a short Retry-After) is the per-minute rate.
//
// NOTE: VirusTotal documents one error code, QuotaExceededError, for the
// minute, daily and monthly quotas, and no message text. A spent daily
// quota that VirusTotal reports without a Retry-After or the word "daily"
// reads as a rate limit here. The local ledger's daily count still stops
// the run when api.per_day matches the key.
func isDailyQuota429(e *vt.Error) bool {
	if !errors.Is(e, vt.ErrQuotaExceeded) {
		return false
	}
	if e.RetryAfter > dailyQuotaRetryAfter {
		return true
	}
	msg := strings.ToLower(e.Message)
	return strings.Contains(msg, "daily") || strings.Contains(msg, "per day")
}

// classify wraps source errors that stop a batch in the engine's sentinels.
func classify(err error) error {
	var vtErr *vt.Error
	switch {
	case errors.Is(err, vt.ErrUnauthorized):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case errors.Is(err, ratelimit.ErrQuotaExhausted):
		return fmt.Errorf("%w: %w", ErrQuota, err)
	case errors.Is(err, vt.ErrQuotaExceeded) && errors.As(err, &vtErr) && !isDailyQuota429(vtErr):
		return fmt.Errorf("%w: %w: %w", ErrQuota, ErrRateLimited, err)
	case errors.Is(err, vt.ErrQuotaExceeded):
		return fmt.Errorf("%w: %w", ErrQuota, err)
	}
	return err
}

// envelope wraps an object in the {"data": ...} form DecodeObject reads, so
// the cache holds the same JSON shape as the API returns.
func envelope(raw []byte) []byte {
	b := make([]byte, 0, len(raw)+9)
	b = append(b, `{"data":`...)
	b = append(b, raw...)
	return append(b, '}')
}

// Decode fills the result from a cached or fresh record.
func (v *VirusTotal) Decode(i ioc.IOC, rec Record, r *Result) error {
	if rec.Status == RecordNotFound {
		return nil
	}
	data := rec.Data
	if rec.Status == RecordOK || rec.Status == RecordPartial {
		if len(rec.Data) > 0 && rec.Data[0] == '{' && isInvestigation(rec.Data) {
			if r.Mode != Triage {
				return v.decodeInvestigation(i, rec, r)
			}
			// Triage served from an investigate cache entry reads only
			// the object report, so it equals a triage of its own.
			var inv investigation
			if err := json.Unmarshal(rec.Data, &inv); err != nil {
				return fmt.Errorf("decode investigation: %w", err)
			}
			data = inv.Object
		}
	}
	obj, ok := vt.DecodeSelected(data, triageAttributes)
	if !ok {
		// DecodeObject returns the error, or decodes what the fast
		// decoder passed over.
		var err error
		if obj, err = vt.DecodeObject(data); err != nil {
			return err
		}
	}
	v.fillObject(i, obj, r)
	return nil
}

// triageAttributes selects every attribute fillObject reads, through
// Object.Stats, SummaryOf and timeline.FromAttributes, so a triage result
// decoded with it equals one decoded from the whole object. A field read
// there must be added here too, and TestTriageDecodeMatchesWhole compares
// the two on every fixture.
var triageAttributes = &vt.Selection{Members: map[string]*vt.Selection{
	// Object.Stats and fillObject.
	"last_analysis_stats": nil,
	"reputation":          nil,
	// SummaryOf. Of last_analysis_results it keeps only the engines that
	// detectionsOf lists, which spares a map for each of about 70 engines.
	"popular_threat_classification": {Members: map[string]*vt.Selection{"suggested_threat_label": nil}},
	"last_analysis_results": {
		Others: &vt.Selection{Members: map[string]*vt.Selection{"category": nil, "result": nil}},
		Keep:   isDetection,
	},
	"tags":                  nil,
	"meaningful_name":       nil,
	"names":                 nil,
	"type_description":      nil,
	"size":                  nil,
	"country":               nil,
	"asn":                   nil,
	"as_owner":              nil,
	"network":               nil,
	"registrar":             nil,
	"last_final_url":        nil,
	"title":                 nil,
	"categories":            nil,
	"first_submission_date": nil,
	"last_submission_date":  nil,
	"last_analysis_date":    nil,
	"creation_date":         nil,
	"times_submitted":       nil,
	"total_votes":           nil,
	// timeline.FromAttributes, beyond the dates above.
	"first_seen_itw_date": nil,
	"last_update_date":    nil,
	"expiration_date":     nil,
	"whois":               nil,
	"pe_info":             {Members: map[string]*vt.Selection{"timestamp": nil}},
	"signature_info":      {Members: map[string]*vt.Selection{"signing date": nil, "signers": nil}},
}}

// isDetection reports whether detectionsOf lists an engine result.
func isDetection(result any) bool {
	m, _ := result.(map[string]any)
	c := vt.Attributes(m).String("category")
	return c == "malicious" || c == "suspicious"
}

func (v *VirusTotal) fillObject(i ioc.IOC, obj *vt.Object, r *Result) {
	r.Stats = obj.Stats()
	r.Reputation = int(obj.Attributes.Int64("reputation"))
	r.Summary = SummaryOf(obj)
	r.Permalink = PermalinkOf(i.Type, i.Value)
	r.Timeline = timeline.FromAttributes(i.Value, obj.Type, obj.Attributes)
}
