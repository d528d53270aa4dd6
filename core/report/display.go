package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/verdict"
)

// This file holds what the console and rich writers share: the labels of a
// result's first line and the detail sections under it.

// field is one labelled line of a detail section.
type field struct {
	Label string
	Value string
}

// sectionFunc returns the detail lines one aspect of a result contributes,
// or none. Values come back already sanitised, and defanged when opt requests it.
type sectionFunc func(r enrich.Result, opt Options) []field

// sections lists the detail sections that console and rich output show, in
// order. To show a new kind of data in enrich.Result (relationships, ATT&CK
// techniques, a timeline), write one sectionFunc and add it here. Neither
// writer needs to change.
var sections = []sectionFunc{
	threatSection,
	detectionsSection,
	tagsSection,
	objectSection,
	datesSection,
	missingSection,
	fileDetailsSection,
	networkDetailsSection,
	behaviourSection,
	techniquesSection,
	relationsSection,
	timelineSection,
	localSection,
}

// details returns the detail lines of r from every section.
func details(r enrich.Result, opt Options) []field {
	var out []field
	for _, s := range sections {
		out = append(out, s(r, opt)...)
	}
	return out
}

// wantsDetails reports whether a result gets a detail block. Flagged results
// get one so the analyst can tell why they were flagged, and so does any
// result with knowledge-base entries, any investigation (the point of
// investigate is the detail) and any timeline the options request.
func wantsDetails(r enrich.Result, opt Options) bool {
	if r.Verdict.Severity() > 0 || r.Investigation != nil {
		return true
	}
	if opt.Timeline && len(r.Timeline) > 0 {
		return true
	}
	return len(r.Local.Tags)+len(r.Local.Notes)+len(r.Local.Watchlists) > 0
}

// maxDetections is the number of engine labels a detail block lists before
// it prints how many more there are.
const maxDetections = 5

func threatSection(r enrich.Result, _ Options) []field {
	if r.Summary.ThreatLabel == "" {
		return nil
	}
	return []field{{"threat label", Sanitize(r.Summary.ThreatLabel)}}
}

func tagsSection(r enrich.Result, _ Options) []field {
	var out []field
	if len(r.Summary.Tags) > 0 {
		out = append(out, field{"tags", joinSanitized(r.Summary.Tags, ", ")})
	}
	if len(r.Summary.Categories) > 0 {
		out = append(out, field{"categories", joinSanitized(r.Summary.Categories, ", ")})
	}
	return out
}

func detectionsSection(r enrich.Result, _ Options) []field {
	d := r.Summary.Detections
	if len(d) == 0 {
		return nil
	}
	parts := make([]string, 0, maxDetections+1)
	for i, det := range d {
		if i == maxDetections {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(d)-maxDetections))
			break
		}
		label := Sanitize(det.Engine)
		if det.Result != "" {
			label += ": " + Sanitize(det.Result)
		}
		// The category says something only when the label does not.
		if det.Category != "" && det.Category != "malicious" && !strings.EqualFold(det.Result, det.Category) {
			label += " (" + Sanitize(det.Category) + ")"
		}
		parts = append(parts, label)
	}
	return []field{{"detections", strings.Join(parts, "; ")}}
}

func objectSection(r enrich.Result, opt Options) []field {
	s := r.Summary
	var out []field
	add := func(label, value string) {
		if value != "" {
			out = append(out, field{label, Sanitize(value)})
		}
	}
	add("name", s.Name)
	add("file type", s.FileType)
	if s.Size > 0 {
		add("size", strconv.FormatInt(s.Size, 10)+" bytes")
	}
	add("network", s.Network)
	if s.ASN > 0 || s.ASOwner != "" {
		add("as", strings.TrimSpace(fmt.Sprintf("AS%d %s", s.ASN, s.ASOwner)))
	}
	add("country", s.Country)
	add("registrar", s.Registrar)
	add("title", s.Title)
	if s.FinalURL != "" {
		add("final url", displayURL(s.FinalURL, opt))
	}
	if s.CommunityHarmful > 0 || s.CommunityHarmless > 0 {
		add("community", fmt.Sprintf("%d malicious, %d harmless votes", s.CommunityHarmful, s.CommunityHarmless))
	}
	if r.Reputation != 0 {
		add("reputation", strconv.Itoa(r.Reputation))
	}
	return out
}

func datesSection(r enrich.Result, opt Options) []field {
	s := r.Summary
	var out []field
	add := func(label string, t time.Time) {
		if !t.IsZero() {
			out = append(out, field{label, humanTime(t, opt.now())})
		}
	}
	add("created", s.CreationDate)
	add("first seen", s.FirstSubmission)
	add("last seen", s.LastSubmission)
	add("last analysis", s.LastAnalysis)
	if !r.FetchedAt.IsZero() && r.Source != enrich.SourceAPI {
		out = append(out, field{"data from", string(r.Source) + ", fetched " + humanTime(r.FetchedAt, opt.now())})
	}
	return out
}

func localSection(r enrich.Result, _ Options) []field {
	l := r.Local
	var out []field
	if len(l.Tags) > 0 {
		out = append(out, field{"local tags", joinSanitized(l.Tags, ", ")})
	}
	for _, n := range l.Notes {
		label := "note #" + strconv.FormatInt(n.ID, 10)
		text := Sanitize(n.Text)
		if !n.Created.IsZero() {
			text = n.Created.UTC().Format(time.DateOnly) + "  " + text
		}
		out = append(out, field{label, text})
	}
	if len(l.Watchlists) > 0 {
		out = append(out, field{"watchlists", joinSanitized(l.Watchlists, ", ")})
	}
	return out
}

func joinSanitized(values []string, sep string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = Sanitize(v)
	}
	return strings.Join(parts, sep)
}

// humanTime formats t as a UTC date with its age relative to now.
func humanTime(t, now time.Time) string {
	return t.UTC().Format(time.DateOnly) + " (" + age(now.Sub(t)) + ")"
}

func age(d time.Duration) string {
	if d < 0 {
		return "in the future"
	}
	days := int(d.Hours() / 24)
	switch {
	case d < time.Hour:
		return "just now"
	case days < 1:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case days == 1:
		return "1 day ago"
	case days < 365:
		return fmt.Sprintf("%d days ago", days)
	}
	return fmt.Sprintf("%.1f years ago", float64(days)/365.25)
}

// verdictLabel is the word shown first for a result. Invalid inputs have no
// verdict, so they get their own label.
func verdictLabel(r enrich.Result) string {
	if r.Status == enrich.StatusInvalid {
		return "INVALID"
	}
	return r.Verdict.String()
}

// displayIOC returns the IOC as shown: the normalised value when there is
// one, else the input, sanitised, and defanged when opt requests it.
func displayIOC(r enrich.Result, opt Options) string {
	v := r.Normalized
	if v == "" {
		v = r.Input
	}
	v = Sanitize(v)
	if opt.Defang {
		v = defang(v)
	}
	return v
}

func displayURL(u string, opt Options) string {
	if opt.Defang {
		return defang(u)
	}
	return u
}

// typeLabel returns the IOC type, or "-" when there is none.
func typeLabel(r enrich.Result) string {
	if r.Type == "" {
		return "-"
	}
	return Sanitize(string(r.Type))
}

// enginesLabel returns "detections/engines" for an enriched result, or "-".
func enginesLabel(r enrich.Result) string {
	if r.Status != enrich.StatusOK {
		return "-"
	}
	flagged := r.Stats.Malicious + r.Stats.Suspicious
	return strconv.Itoa(flagged) + "/" + strconv.Itoa(r.Engines)
}

// statusText explains a result in a few words: what VirusTotal calls it for
// an enriched result, why there is no verdict otherwise.
func statusText(r enrich.Result) string {
	var text string
	switch r.Status {
	case enrich.StatusOK:
		text = okText(r)
	case enrich.StatusNotFound:
		text = "not in VirusTotal"
	case enrich.StatusInvalid:
		text = "invalid"
	case enrich.StatusNonRoutable:
		text = "non-routable address, not looked up"
	case enrich.StatusOfflineMiss:
		text = "offline, not cached"
	case enrich.StatusQuota:
		text = "not looked up: quota exhausted"
		if r.Error == enrich.RateLimitedError {
			// A per-minute 429: the daily quota may well be untouched.
			text = r.Error
		}
	case enrich.StatusAuth:
		text = "not looked up: API key rejected"
	case enrich.StatusFailed:
		text = "lookup failed"
	case enrich.StatusCancelled:
		text = "not looked up: cancelled"
	default:
		text = string(r.Status)
	}
	// Only these statuses have an error that adds to the text above; the
	// others would repeat it ("quota exhausted: quota exhausted").
	if r.Error != "" && (r.Status == enrich.StatusInvalid || r.Status == enrich.StatusFailed) {
		text += ": " + r.Error
	}
	if hasFlag(r, ioc.FlagEmptyFile) {
		text += " [hash of an empty file]"
	}
	return Sanitize(text)
}

// okText picks the most telling short fact of an enriched result.
func okText(r enrich.Result) string {
	s := r.Summary
	switch {
	case s.ThreatLabel != "":
		return s.ThreatLabel
	case s.Name != "":
		return s.Name
	case s.Title != "":
		return s.Title
	case s.ASOwner != "":
		return s.ASOwner
	case s.Registrar != "":
		return s.Registrar
	}
	if r.Verdict == verdict.Unknown {
		// An enriched result is UNKNOWN only when too few engines gave a verdict.
		return "too few engines for a verdict"
	}
	return ""
}

func hasFlag(r enrich.Result, f ioc.Flag) bool {
	for _, g := range r.Flags {
		if g == f {
			return true
		}
	}
	return false
}
