package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/verdict"
)

// This file holds the detail sections of investigate results: the file,
// network and behaviour details, ATT&CK techniques and relationship lists.
// Human output shows the top of each list; JSON carries all of it.

// Caps on what one detail block lists, so that a busy sample still fits
// on a screen. The last line of a capped list gives how many were left out.
const (
	maxRelatedShown   = 5  // related objects per relationship section
	maxListShown      = 5  // items per behaviour list (processes, mutexes...)
	maxTechniques     = 15 // ATT&CK techniques
	maxTimelineShown  = 25 // timeline events
	maxShortValueRune = 160
)

// relatedLabels names the relationship sections in human output.
var relatedLabels = map[string]string{
	"contacted_ips":       "contacted IPs",
	"contacted_domains":   "contacted domains",
	"contacted_urls":      "contacted URLs",
	"dropped_files":       "dropped files",
	"execution_parents":   "execution parents",
	"resolutions":         "resolutions",
	"communicating_files": "communicating files",
	"downloaded_files":    "downloaded files",
	"subdomains":          "subdomains",
	"historical_whois":    "historical WHOIS",
}

// sectionLabel returns the human name of an investigation section.
func sectionLabel(name string) string {
	if l, ok := relatedLabels[name]; ok {
		return l
	}
	return short(strings.ReplaceAll(name, "_", " "))
}

// DNS records share one field, so each is kept short.
const (
	maxDNSRecords    = 10
	maxDNSValueRunes = 60
)

// clipRunes cuts s to n runes, ending with "…" when it cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// short sanitises s and cuts it to maxShortValueRune runes, for list items
// where one long command line must not push the rest off the screen.
func short(s string) string {
	return clipRunes(Sanitize(s), maxShortValueRune)
}

// moreLine returns the field that ends a capped list of total items.
func moreLine(total, shown int) field {
	return field{"", fmt.Sprintf("(+%d more; -o json lists all)", total-shown)}
}

// listFields returns one field per item, the first labelled, capped at
// maxListShown.
func listFields(label string, items []string) []field {
	var out []field
	for i, it := range items {
		if i == maxListShown {
			out = append(out, moreLine(len(items), maxListShown))
			break
		}
		l := ""
		if i == 0 {
			l = label
		}
		out = append(out, field{l, short(it)})
	}
	return out
}

// fileDetailsSection shows what investigate adds about a file: hashes and
// fuzzy hashes, PE header, signature, rule hits and sandbox verdicts.
func fileDetailsSection(r enrich.Result, _ Options) []field {
	if r.Investigation == nil {
		return nil
	}
	d := r.Investigation.Details
	var out []field
	add := func(label, value string) {
		if value != "" {
			out = append(out, field{label, short(value)})
		}
	}

	if len(d.Names) > 1 || (len(d.Names) == 1 && d.Names[0] != r.Summary.Name) {
		names := make([]string, len(d.Names))
		for i, n := range d.Names {
			names[i] = short(n)
		}
		out = append(out, field{"names", strings.Join(names, ", ")})
	}
	add("magic", d.Magic)
	for _, h := range []struct{ label, value string }{{"md5", d.MD5}, {"sha1", d.SHA1}, {"sha256", d.SHA256}} {
		if h.value != "" && h.value != r.Normalized {
			add(h.label, h.value)
		}
	}
	add("ssdeep", d.SSDeep)
	add("tlsh", d.TLSH)
	add("pe", peText(d.PE))
	if d.PE != nil {
		add("imphash", d.PE.Imphash)
	}
	add("signature", signatureText(d.Signature))

	if hits := ruleHits(d.YARA); hits != "" {
		out = append(out, field{"yara", hits})
	}
	if hits := ruleHits(d.Sigma); hits != "" {
		out = append(out, field{"sigma", hits})
	}
	if len(d.Sandboxes) > 0 {
		parts := make([]string, 0, len(d.Sandboxes))
		for _, sb := range d.Sandboxes {
			p := short(sb.Name) + ": " + short(cmp.Or(sb.Category, "no verdict"))
			if len(sb.Malware) > 0 {
				p += " (" + joinShort(sb.Malware, ", ") + ")"
			}
			parts = append(parts, p)
		}
		out = append(out, field{"sandboxes", strings.Join(parts, "; ")})
	}
	return out
}

func peText(pe *enrich.PEInfo) string {
	if pe == nil {
		return ""
	}
	var parts []string
	if !pe.CompileTime.IsZero() {
		parts = append(parts, "compiled "+pe.CompileTime.UTC().Format(time.DateOnly))
	}
	if pe.Sections > 0 {
		parts = append(parts, plural(pe.Sections, "section"))
	}
	if pe.Imports > 0 {
		parts = append(parts, plural(pe.Imports, "imported library", "imported libraries"))
	}
	return strings.Join(parts, ", ")
}

func signatureText(s *enrich.Signature) string {
	if s == nil || *s == (enrich.Signature{}) {
		return ""
	}
	var parts []string
	if s.Signers != "" {
		parts = append(parts, "signed by "+s.Signers)
	}
	if s.Verified != "" {
		parts = append(parts, s.Verified)
	}
	if s.Product != "" {
		parts = append(parts, "product "+s.Product)
	}
	if s.SigningDate != "" {
		parts = append(parts, "on "+s.SigningDate)
	}
	return strings.Join(parts, "; ")
}

func ruleHits(hits []enrich.RuleHit) string {
	parts := make([]string, 0, len(hits))
	for i, h := range hits {
		if i == maxListShown {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(hits)-maxListShown))
			break
		}
		p := short(h.Rule)
		var extra []string
		if h.Level != "" {
			extra = append(extra, short(h.Level))
		}
		if h.Source != "" {
			extra = append(extra, short(h.Source))
		}
		if len(extra) > 0 {
			p += " (" + strings.Join(extra, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func plural(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	word := one + "s"
	if len(many) > 0 {
		word = many[0]
	}
	return strconv.Itoa(n) + " " + word
}

// networkDetailsSection shows DNS records, JARM and the last HTTP status.
func networkDetailsSection(r enrich.Result, opt Options) []field {
	if r.Investigation == nil {
		return nil
	}
	d := r.Investigation.Details
	var out []field
	var records []string
	for _, rec := range d.DNSRecords {
		s := short(rec.Type) + " " + displayURL(clipRunes(Sanitize(rec.Value), maxDNSValueRunes), opt)
		if rec.TTL > 0 {
			s += " (ttl " + strconv.FormatInt(rec.TTL, 10) + ")"
		}
		records = append(records, s)
	}
	// DNS records are short, so several share a line.
	if len(records) > 0 {
		shown := records
		if len(shown) > maxDNSRecords {
			shown = append(shown[:maxDNSRecords:maxDNSRecords], fmt.Sprintf("(+%d more)", len(records)-maxDNSRecords))
		}
		out = append(out, field{"dns records", strings.Join(shown, "; ")})
	}
	if !d.WhoisDate.IsZero() {
		out = append(out, field{"whois date", humanTime(d.WhoisDate, opt.now())})
	}
	if d.JARM != "" {
		out = append(out, field{"jarm", short(d.JARM)})
	}
	if d.LastHTTPCode != 0 {
		out = append(out, field{"http status", strconv.FormatInt(d.LastHTTPCode, 10)})
	}
	return out
}

// behaviourSection shows the sandbox behaviour summary, a few items of
// each list.
func behaviourSection(r enrich.Result, opt Options) []field {
	if r.Investigation == nil || r.Investigation.Details.Behaviour == nil {
		return nil
	}
	b := r.Investigation.Details.Behaviour
	var out []field
	if len(b.Verdicts) > 0 {
		out = append(out, field{"sandbox says", joinShort(b.Verdicts, ", ")})
	}
	out = append(out, listFields("processes", b.ProcessesCreated)...)
	out = append(out, listFields("commands", b.CommandLines)...)
	out = append(out, listFields("files dropped", b.FilesDropped)...)
	out = append(out, listFields("registry set", b.RegistryKeysSet)...)
	out = append(out, listFields("mutexes", b.MutexesCreated)...)

	// Network activity is short and worth seeing whole up to the cap,
	// defanged when asked, as the analyst may paste it into a ticket.
	dns := dedupe(b.DNSLookups)
	traffic := dedupe(b.IPTraffic)
	for i := range dns {
		dns[i] = displayURL(short(dns[i]), opt)
	}
	for i := range traffic {
		traffic[i] = displayURL(short(traffic[i]), opt)
	}
	if len(dns) > 0 {
		out = append(out, field{"dns lookups", strings.Join(dns, ", ")})
	}
	if len(traffic) > 0 {
		out = append(out, field{"ip traffic", strings.Join(traffic, ", ")})
	}
	return out
}

// joinShort joins values after passing each through short.
func joinShort(values []string, sep string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = short(v)
	}
	return strings.Join(parts, sep)
}

func dedupe(values []string) []string {
	var out []string
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// techniquesSection lists the ATT&CK techniques, one per line, with their
// tactics and the first piece of evidence.
func techniquesSection(r enrich.Result, _ Options) []field {
	if r.Investigation == nil || len(r.Investigation.Techniques) == 0 {
		return nil
	}
	ts := r.Investigation.Techniques
	var out []field
	for i, t := range ts {
		if i == maxTechniques {
			out = append(out, moreLine(len(ts), maxTechniques))
			break
		}
		label := ""
		if i == 0 {
			label = "att&ck"
		}
		text := short(t.ID) + " " + short(t.Name)
		if len(t.Tactics) > 0 {
			text += " [" + joinShort(t.Tactics, ", ") + "]"
		}
		if ev := evidenceText(t.ID, t.Evidence); ev != "" {
			text += ": " + ev
		}
		out = append(out, field{label, text})
	}
	return out
}

// maxEvidenceRunes keeps a technique to about two lines at 100 columns.
const maxEvidenceRunes = 90

// evidenceText returns the first piece of a mapping's evidence, without
// the field name and technique id that VirusTotal's own lists repeat, cut
// to maxEvidenceRunes.
func evidenceText(id, evidence string) string {
	ev, _, _ := strings.Cut(evidence, "; ")
	if field, rest, ok := strings.Cut(ev, ": "); ok && !strings.ContainsAny(field, " \"=") {
		ev = strings.TrimPrefix(rest, id+" ")
	}
	ev = Sanitize(ev)
	return clipRunes(ev, maxEvidenceRunes)
}

// relationsSection lists each relationship section: a heading line with
// the count and how many related objects are flagged, then the most
// severe objects. A section that needs a premium key, failed or was skipped
// is named with its status, because an empty list must never hide a gap.
func relationsSection(r enrich.Result, opt Options) []field {
	if r.Investigation == nil {
		return nil
	}
	var out, empty []field
	var none []string
	for _, sec := range r.Investigation.Sections {
		if len(sec.Items) == 0 && sec.Status == enrich.SectionOK {
			// Behaviour documents have their own sections; empty lists
			// share one line.
			if isRelationship(sec.Name) {
				none = append(none, sectionLabel(sec.Name))
			}
			continue
		}
		out = append(out, field{"related", sectionHeading(sec)})
		items := topRelated(sec.Items)
		for i, it := range items {
			if i == maxRelatedShown {
				out = append(out, moreLine(len(items), maxRelatedShown))
				break
			}
			out = append(out, field{"", relatedText(it, opt)})
		}
	}
	if len(none) > 0 {
		empty = append(empty, field{"related", "none in " + strings.Join(none, ", ")})
	}
	return append(out, empty...)
}

// isRelationship reports whether a section is a relationship list rather
// than a behaviour document.
func isRelationship(name string) bool {
	_, ok := relatedLabels[name]
	return ok
}

func sectionHeading(sec enrich.Section) string {
	label := sectionLabel(sec.Name)
	switch sec.Status {
	case enrich.SectionRequiresPremium:
		return label + ": requires a premium API key"
	case enrich.SectionError:
		return label + ": MISSING, " + short(sec.Error)
	case enrich.SectionSkipped:
		return label + ": MISSING, " + short(cmp.Or(sec.Error, "not fetched"))
	}
	count := strconv.Itoa(len(sec.Items))
	if sec.Truncated {
		count += "+"
	}
	var flagged []string
	if n := countVerdict(sec.Items, verdict.Malicious); n > 0 {
		flagged = append(flagged, strconv.Itoa(n)+" malicious")
	}
	if n := countVerdict(sec.Items, verdict.Suspicious); n > 0 {
		flagged = append(flagged, strconv.Itoa(n)+" suspicious")
	}
	if len(flagged) > 0 {
		count += " (" + strings.Join(flagged, ", ") + ")"
	}
	return label + ": " + count
}

func countVerdict(items []enrich.Related, v verdict.Verdict) int {
	n := 0
	for _, it := range items {
		if it.Verdict == v && it.Engines > 0 {
			n++
		}
	}
	return n
}

// topRelated returns items ordered by severity, then by malicious count;
// items of equal rank keep VirusTotal's order, which is newest first for
// resolutions.
func topRelated(items []enrich.Related) []enrich.Related {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b enrich.Related) int {
		if c := cmp.Compare(relatedSeverity(b), relatedSeverity(a)); c != 0 {
			return c
		}
		return cmp.Compare(b.Malicious, a.Malicious)
	})
	return out
}

func relatedSeverity(r enrich.Related) int {
	if r.Engines == 0 {
		return -1 // no analysis: below a real CLEAN or UNKNOWN
	}
	return r.Verdict.Severity()
}

// relatedText is one related object: its verdict and detections when
// VirusTotal sent them, its id, and its name or date when they add
// something.
func relatedText(it enrich.Related, opt Options) string {
	var parts []string
	if it.Engines > 0 {
		parts = append(parts, fmt.Sprintf("%-10s %d/%d", it.Verdict.String(), it.Malicious, it.Engines))
	}
	id := short(it.ID)
	name := short(it.Name)
	switch {
	case it.Type == "resolution" && name != "":
		// A resolution's id glues the address and host name together;
		// the name is the other side of the resolution.
		parts = append(parts, displayURL(short(name), opt))
	case it.Type == "url" && name != "":
		parts = append(parts, displayURL(short(name), opt))
	default:
		parts = append(parts, displayURL(short(id), opt))
		if name != "" && name != id {
			parts = append(parts, short(name))
		}
	}
	if !it.Date.IsZero() {
		parts = append(parts, it.Date.UTC().Format(time.DateOnly))
	}
	return strings.Join(parts, "  ")
}

// missingSections returns the sections a partial investigation lacks, or
// nil for a complete result.
func missingSections(r enrich.Result) []string {
	if r.Investigation == nil {
		return nil
	}
	return r.Investigation.Missing
}

// missingSection warns that a result is partial.
func missingSection(r enrich.Result, _ Options) []field {
	if r.Investigation == nil || len(r.Investigation.Missing) == 0 {
		return nil
	}
	names := make([]string, len(r.Investigation.Missing))
	for i, m := range r.Investigation.Missing {
		names[i] = sectionLabel(m)
	}
	return []field{{"PARTIAL", "missing " + strings.Join(names, ", ") + "; run again with --no-cache to retry"}}
}

// timelineSection lists the timeline when Options.Timeline is set.
func timelineSection(r enrich.Result, opt Options) []field {
	if !opt.Timeline || len(r.Timeline) == 0 {
		return nil
	}
	var out []field
	for i, ev := range r.Timeline {
		if i == maxTimelineShown {
			out = append(out, moreLine(len(r.Timeline), maxTimelineShown))
			break
		}
		label := ""
		if i == 0 {
			label = "timeline"
		}
		text := ev.Time.UTC().Format("2006-01-02 15:04") + "  " + short(ev.Description)
		if ev.IOC != "" && ev.IOC != r.Normalized {
			text += " (" + displayURL(short(ev.IOC), opt) + ")"
		}
		out = append(out, field{label, text})
	}
	return out
}
