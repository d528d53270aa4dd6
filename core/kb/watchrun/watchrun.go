// Package watchrun re-triages every indicator on a watchlist and compares
// each new verdict with the last one the same list recorded in the
// knowledge base, so a scheduled run can report what got worse.
package watchrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/kb"
	"github.com/vex-ioc/vex/core/verdict"
)

// Batcher enriches many inputs; *enrich.Engine implements it.
type Batcher interface {
	Batch(ctx context.Context, inputs []string, req enrich.Request, emit func(i int, r enrich.Result)) enrich.BatchStats
}

// Change classifies one indicator's new verdict against its previous one.
type Change string

const (
	// Worsened means the verdict is more severe than the previous one.
	Worsened Change = "worsened"
	// Improved means the verdict is less severe than the previous one.
	Improved Change = "improved"
	// Unchanged means the severity is the same. CLEAN and UNKNOWN share a
	// severity (neither calls for action), so CLEAN to UNKNOWN is unchanged.
	Unchanged Change = "unchanged"
	// New means this list recorded no verdict for the indicator before, so
	// this run is the baseline. Verdicts recorded by other lists do not
	// count.
	New Change = "new"
	// Failed means the indicator could not be enriched in this run. Nothing
	// is recorded for it, so the next run compares with the older verdict.
	Failed Change = "error"
)

// Item is the outcome for one watchlist member.
type Item struct {
	IOC      string            `json:"ioc"` // normalised
	Type     ioc.Type          `json:"type"`
	Change   Change            `json:"change"`
	Previous *kb.VerdictRecord `json:"previous,omitempty"`
	Verdict  verdict.Verdict   `json:"verdict"`
	Stats    verdict.Stats     `json:"stats"`
	Status   enrich.Status     `json:"status"`
	Source   enrich.Source     `json:"source"`
	Error    string            `json:"error,omitempty"`
	// Local is the member's tags, notes and watchlists.
	Local  enrich.Local   `json:"local,omitzero"`
	Result *enrich.Result `json:"-"` // the full result, for callers that print more
}

// Counts tallies a run by Change.
type Counts struct {
	Worsened  int `json:"worsened"`
	Improved  int `json:"improved"`
	Unchanged int `json:"unchanged"`
	New       int `json:"new"`
	Errors    int `json:"errors"`
}

// Report is the outcome of one run, items in watchlist order.
type Report struct {
	Watchlist string    `json:"watchlist"`
	RanAt     time.Time `json:"ran_at"`
	Counts    Counts    `json:"counts"`
	// Stopped is set when the engine stopped sending requests part-way,
	// because the quota ran out or the API key was rejected.
	Stopped enrich.Status `json:"stopped,omitempty"`
	Items   []Item        `json:"items"`
}

// Run re-triages the members of watchlist name through eng, compares each
// verdict with the last one this list recorded in k, and records the new
// verdicts (at time now) in the list's history for every member that was
// enriched. Runs of other lists neither read nor change that history. Members that failed get
// Change Failed and keep their old history. An unknown list is an error
// matching kb.ErrNotFound; an empty list is an empty report.
func Run(ctx context.Context, k *kb.KB, name string, eng Batcher, req enrich.Request, now time.Time) (Report, error) {
	rep := Report{Watchlist: name, RanAt: now.UTC(), Items: []Item{}}
	members, err := k.Watchlist(ctx, name)
	if err != nil {
		return rep, err
	}
	if len(members) == 0 {
		return rep, nil
	}

	// The previous verdicts are read before the run records new ones.
	inputs := make([]string, len(members))
	previous := make([]*kb.VerdictRecord, len(members))
	for i, m := range members {
		inputs[i] = m.IOC
		rec, ok, err := k.LastVerdict(ctx, name, m.IOC)
		if err != nil {
			return rep, fmt.Errorf("run watchlist %q: %w", name, err)
		}
		if ok {
			previous[i] = &rec
		}
	}

	results := make([]enrich.Result, len(members))
	var mu sync.Mutex
	stats := eng.Batch(ctx, inputs, req, func(i int, r enrich.Result) {
		mu.Lock()
		results[i] = r
		mu.Unlock()
	})
	rep.Stopped = stats.Stopped
	if err := ctx.Err(); err != nil {
		// An interrupted run records nothing: a change it saw but did not
		// report would otherwise read as unchanged next time.
		return rep, fmt.Errorf("run watchlist %q: %w", name, err)
	}

	// The local data is read here rather than taken from the results, so a
	// report carries it even from an engine built without the KB.
	local, err := k.LocalMany(ctx, inputs)
	if err != nil {
		return rep, fmt.Errorf("run watchlist %q: %w", name, err)
	}

	for i, m := range members {
		item := classify(m, previous[i], &results[i])
		item.Local = local[m.IOC]
		if item.Change != Failed {
			if err := k.RecordVerdict(ctx, name, m.IOC, item.Verdict, item.Stats, now); err != nil {
				return rep, fmt.Errorf("run watchlist %q: %w", name, err)
			}
		}
		rep.Items = append(rep.Items, item)
		rep.Counts.add(item.Change)
	}
	return rep, nil
}

// Worsened reports whether any member got a more severe verdict.
func (r Report) Worsened() bool { return r.Counts.Worsened > 0 }

// NewAlerts counts the members that are new in this run with a verdict of
// SUSPICIOUS or worse. They call for as much attention as a worsened one,
// because there is no earlier verdict that could worsen.
func (r Report) NewAlerts() int {
	n := 0
	for _, it := range r.Items {
		if it.Change == New && it.Verdict.Severity() >= verdict.Suspicious.Severity() {
			n++
		}
	}
	return n
}

func classify(m kb.Member, prev *kb.VerdictRecord, r *enrich.Result) Item {
	item := Item{
		IOC: m.IOC, Type: m.Type, Previous: prev, Result: r,
		Verdict: r.Verdict, Stats: r.Stats, Status: r.Status, Source: r.Source, Error: r.Error,
	}
	switch {
	case !enriched(r.Status):
		item.Change = Failed
		if item.Status == "" {
			// The engine emits every input; an empty status means it did not.
			item.Status, item.Error = enrich.StatusFailed, "no result from the engine"
		}
	case prev == nil:
		item.Change = New
	case r.Verdict.Severity() > prev.Verdict.Severity():
		item.Change = Worsened
	case r.Verdict.Severity() < prev.Verdict.Severity():
		item.Change = Improved
	default:
		item.Change = Unchanged
	}
	return item
}

// enriched reports whether a status carries a verdict worth recording. A
// non-routable address is not looked up, and UNKNOWN is its true verdict.
func enriched(s enrich.Status) bool {
	return s.Enriched() || s == enrich.StatusNonRoutable
}

func (c *Counts) add(ch Change) {
	switch ch {
	case Worsened:
		c.Worsened++
	case Improved:
		c.Improved++
	case Unchanged:
		c.Unchanged++
	case New:
		c.New++
	case Failed:
		c.Errors++
	}
}
