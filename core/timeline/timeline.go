// Package timeline builds a chronological list of events for indicators from
// VirusTotal data: submissions, analyses, PE compile and signing times, WHOIS
// dates, passive DNS resolutions and sandbox runs.
package timeline

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Event kinds.
const (
	KindFirstSubmission = "first_submission"
	KindLastSubmission  = "last_submission"
	KindFirstSeenITW    = "first_seen_itw" // first seen in the wild
	KindLastAnalysis    = "last_analysis"
	KindPECompiled      = "pe_compiled"
	KindSigned          = "signed"
	KindWhoisCreated    = "whois_created"
	KindWhoisUpdated    = "whois_updated"
	KindWhoisExpires    = "whois_expires"
	KindPassiveDNS      = "passive_dns"
	KindSandboxRun      = "sandbox_run"
)

// Event is one dated fact about an indicator.
type Event struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Description string    `json:"description"`
	// Source names where the time came from: "virustotal:" and the
	// attribute path, e.g. "virustotal:pe_info.timestamp".
	Source string `json:"source"`
	IOC    string `json:"ioc"`
}

// typeFile is VirusTotal's object type for files.
const typeFile = "file"

// FromAttributes returns the events found in the attributes of one
// VirusTotal object of type objType ("file", "domain", "ip_address", "url";
// other values are read as far as the fields allow). iocValue is the
// indicator the events belong to. Missing, zero, negative and unparsable
// timestamps are skipped; far-future ones are kept, because forged PE
// timestamps are themselves evidence. The events are sorted with Sort.
func FromAttributes(iocValue, objType string, attrs map[string]any) []Event {
	var b builder
	b.ioc = iocValue

	b.unix(attrs, "first_submission_date", KindFirstSubmission, "first submitted to VirusTotal")
	b.unix(attrs, "last_submission_date", KindLastSubmission, "last submitted to VirusTotal")
	b.unix(attrs, "first_seen_itw_date", KindFirstSeenITW, "first seen in the wild")
	b.unix(attrs, "last_analysis_date", KindLastAnalysis, lastAnalysisText(attrs))

	if pe, ok := attrs["pe_info"].(map[string]any); ok {
		b.unixFrom(pe, "timestamp", "pe_info.timestamp", KindPECompiled, "PE header compile time")
	}
	if sig, ok := attrs["signature_info"].(map[string]any); ok {
		b.signing(sig)
	}

	// creation_date means WHOIS creation for domains but the PE compile
	// time for files, where pe_info.timestamp already covers it.
	if objType != typeFile {
		b.unix(attrs, "creation_date", KindWhoisCreated, "domain registered (WHOIS)")
		b.unix(attrs, "last_update_date", KindWhoisUpdated, "WHOIS record updated")
		b.unix(attrs, "expiration_date", KindWhoisExpires, "domain registration expires (WHOIS)")
	}
	if whois, ok := attrs["whois"].(string); ok {
		b.whoisText(whois)
	}

	Sort(b.events)
	return b.events
}

// FromResolutions returns passive DNS events for iocValue from a
// resolutions relationship: resolution objects (or their attributes) with
// "date", "host_name", "ip_address" and "resolver". The list may also be the
// whole API response ({"data": [...]}).
func FromResolutions(iocValue string, resolutions []any) []Event {
	var b builder
	b.ioc = iocValue
	for _, r := range objects(resolutions) {
		host, _ := r["host_name"].(string)
		ip, _ := r["ip_address"].(string)
		desc := fmt.Sprintf("%s resolved to %s", orUnknown(host), orUnknown(ip))
		if resolver, ok := r["resolver"].(string); ok && resolver != "" {
			desc += " (resolver " + resolver + ")"
		}
		b.unixFrom(r, "date", "resolutions.date", KindPassiveDNS, desc)
	}
	Sort(b.events)
	return b.events
}

// FromSandboxRuns returns one event per sandbox report in a file's
// behaviours relationship: objects (or their attributes) with
// "analysis_date" and "sandbox_name". Reports without a date are skipped.
func FromSandboxRuns(iocValue string, behaviours []any) []Event {
	var b builder
	b.ioc = iocValue
	for _, r := range objects(behaviours) {
		name, _ := r["sandbox_name"].(string)
		desc := "sandbox run in " + orUnknown(name)
		if tags := stringList(r["verdicts"]); len(tags) > 0 {
			desc += " (verdict " + strings.Join(tags, ", ") + ")"
		}
		b.unixFrom(r, "analysis_date", "behaviours.analysis_date", KindSandboxRun, desc)
	}
	Sort(b.events)
	return b.events
}

// Sort orders events by time, then kind, keeping the input order of events
// that tie on both.
func Sort(events []Event) {
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].Time.Equal(events[j].Time) {
			return events[i].Time.Before(events[j].Time)
		}
		return events[i].Kind < events[j].Kind
	})
}

// Merge concatenates event lists and sorts the result with Sort.
func Merge(lists ...[]Event) []Event {
	var out []Event
	for _, l := range lists {
		out = append(out, l...)
	}
	Sort(out)
	return out
}

type builder struct {
	ioc    string
	events []Event
}

// add appends an event unless an identical one (kind, second and
// description) is already there, as when a relationship page repeats an item.
func (b *builder) add(t time.Time, kind, source, desc string) {
	t = t.UTC()
	for _, e := range b.events {
		if e.Kind == kind && e.Description == desc && e.Time.Truncate(time.Second).Equal(t.Truncate(time.Second)) {
			return
		}
	}
	b.events = append(b.events, Event{Time: t, Kind: kind, Description: desc, Source: "virustotal:" + source, IOC: b.ioc})
}

func (b *builder) unix(attrs map[string]any, field, kind, desc string) {
	b.unixFrom(attrs, field, field, kind, desc)
}

func (b *builder) unixFrom(m map[string]any, field, source, kind, desc string) {
	if t, ok := ParseTime(m[field]); ok {
		b.add(t, kind, source, desc)
	}
}

// signing reads signature_info's "signing date", which VirusTotal writes as
// local-looking text such as "11:32 AM 7/4/2016" without a zone; it is read
// as UTC.
func (b *builder) signing(sig map[string]any) {
	s, ok := sig["signing date"].(string)
	if !ok {
		return
	}
	t, ok := parseSigningDate(s)
	if !ok {
		return
	}
	desc := "file signed"
	if signers, ok := sig["signers"].(string); ok && signers != "" {
		signer, _, _ := strings.Cut(signers, ";")
		desc += " by " + strings.TrimSpace(signer)
	}
	b.add(t, KindSigned, "signature_info.signing date", desc)
}

var signingLayouts = []string{
	"3:04 PM 1/2/2006",
	"15:04 1/2/2006",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"2006-01-02 15:04:05",
	time.RFC3339,
}

func parseSigningDate(s string) (time.Time, bool) {
	s = strings.Join(strings.Fields(s), " ")
	for _, layout := range signingLayouts {
		if t, err := time.Parse(layout, s); err == nil && plausible(t) {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// whoisLine matches the WHOIS lines that carry dates, for domains (ICANN
// format) and for IP registries (ARIN's RegDate and Updated).
var whoisLine = regexp.MustCompile(`(?im)^[ \t]*(creation date|created|created on|registered on|regdate|updated date|updated|last updated|last modified|registry expiry date|registrar registration expiration date|expiration date|expiry date|expires on|paid-till)[ \t]*:[ \t]*(\S.*?)[ \t\r]*$`)

// whoisText adds WHOIS dates from the raw WHOIS text, at most one per kind,
// and only for kinds the attributes did not already date. The attributes
// win because the text often repeats a date in several zones, and
// VirusTotal's creation_date can differ from the text by the registrar's
// UTC offset.
func (b *builder) whoisText(text string) {
	have := map[string]bool{}
	for _, e := range b.events {
		have[e.Kind] = true
	}
	for _, m := range whoisLine.FindAllStringSubmatch(text, -1) {
		t, ok := parseWhoisDate(m[2])
		if !ok {
			continue
		}
		field := strings.ToLower(m[1])
		var kind, desc string
		switch {
		case strings.Contains(field, "expir") || field == "paid-till":
			kind, desc = KindWhoisExpires, "registration expires (WHOIS "+m[1]+")"
		case strings.Contains(field, "updat") || strings.Contains(field, "modif"):
			kind, desc = KindWhoisUpdated, "WHOIS record updated ("+m[1]+")"
		default:
			kind, desc = KindWhoisCreated, "registered (WHOIS "+m[1]+")"
		}
		if !have[kind] {
			have[kind] = true
			b.add(t, kind, "whois", desc)
		}
	}
}

var whoisLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.0Z",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	"2006-01-02",
	"2006.01.02",
	"02-Jan-2006",
	"2006/01/02",
}

func parseWhoisDate(s string) (time.Time, bool) {
	for _, layout := range whoisLayouts {
		if t, err := time.Parse(layout, s); err == nil && plausible(t) {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func lastAnalysisText(attrs map[string]any) string {
	stats, ok := attrs["last_analysis_stats"].(map[string]any)
	if !ok {
		return "last analysed by VirusTotal"
	}
	mal, _ := toFloat(stats["malicious"])
	sus, _ := toFloat(stats["suspicious"])
	return fmt.Sprintf("last analysed by VirusTotal: %d malicious, %d suspicious", int64(mal), int64(sus))
}

// objects unwraps relationship items: a {"data": [...]} response, objects
// with "attributes", or attribute maps.
func objects(items []any) []map[string]any {
	var out []map[string]any
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if d, ok := m["data"].([]any); ok {
			out = append(out, objects(d)...)
			continue
		}
		if a, ok := m["attributes"].(map[string]any); ok {
			m = a
		}
		out = append(out, m)
	}
	return out
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, item := range list {
		if s, ok := item.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
