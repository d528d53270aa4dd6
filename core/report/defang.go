package report

import (
	"strings"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/timeline"
)

// defang returns the defanged form of a valid IOC and any other string
// unchanged, so text that is not an indicator is never mangled.
func defang(s string) string { return ioc.Defang(s) }

// defangMarkers are the ASCII forms of defanging that ioc.Refang undoes,
// in lower case. The fullwidth and ideographic full stops are left out,
// because UTS #46, which browsers apply to host names, maps them to ".",
// so a value written with them is still live.
var defangMarkers = []string{
	"[.", ".]", "(.)", "{.}", "<.>", "[dot]", "(dot)", "{dot}", `\.`,
	"[:]", "[://]", "[/]", "[@]", "[at]", "(at)", "{at}",
}

// defangInput returns the input for output with --defang. The input is
// what the analyst typed, so one that already carries defanging (hxxp://,
// [.] and the like) is kept as typed, even when only part of it is
// defanged. A live input is defanged, except a hash, which defanging
// would only lowercase.
func defangInput(r enrich.Result) string {
	if r.Type.IsHash() || isDefanged(r.Input) {
		return r.Input
	}
	if r.Status == enrich.StatusInvalid && looksLinkable(r.Input) {
		// ioc.Defang leaves what is no indicator unchanged, but an
		// invalid URL such as one with a bad port is still a live link.
		return defangLoose(r.Input)
	}
	return defang(r.Input)
}

// looksLinkable reports whether ticket systems and chat clients would turn
// s into a link: it has a scheme or starts with www. An invalid bare name
// such as invoice.pdf ends in no known top-level domain, so they leave it.
func looksLinkable(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Contains(s, "://") || strings.HasPrefix(s, "www.")
}

// defangLoose defangs any text the way analysts do by hand: every dot
// bracketed, the scheme separator bracketed and http written hxxp.
func defangLoose(s string) string {
	s = strings.ReplaceAll(s, ".", "[.]")
	s = strings.Replace(s, "://", "[://]", 1)
	if len(s) >= 4 && strings.EqualFold(s[:4], "http") {
		s = "hxxp" + s[4:]
	}
	return s
}

func isDefanged(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(s, "hxxp") || strings.HasPrefix(s, "fxp") {
		return true
	}
	for _, m := range defangMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// defangResult returns a copy of r whose IOC-valued fields are defanged:
// the input (see defangInput), the normalised value, the final URL,
// timeline IOCs, related objects, DNS records and sandbox network
// activity. File names, hashes and free text stay as they are. Every
// slice that changes is copied, so r keeps its real values.
func defangResult(r enrich.Result) enrich.Result {
	r.Input = defangInput(r)
	r.Normalized = defang(r.Normalized)
	r.Summary.FinalURL = defang(r.Summary.FinalURL)
	r.Timeline = mapped(r.Timeline, func(ev timeline.Event) timeline.Event {
		ev.IOC = defang(ev.IOC)
		return ev
	})
	if r.Investigation != nil {
		inv := *r.Investigation
		inv.Sections = defangSections(inv.Sections)
		inv.Details = defangDetails(inv.Details)
		r.Investigation = &inv
	}
	return r
}

func defangSections(sections []enrich.Section) []enrich.Section {
	return mapped(sections, func(s enrich.Section) enrich.Section {
		s.Items = mapped(s.Items, defangRelated)
		return s
	})
}

// defangRelated defangs the IOC values of a related object: its id (a
// domain or address) and, for a URL or resolution, its name. A file's name
// is a file name, not an IOC, and a URL's id is VirusTotal's hash of it.
func defangRelated(it enrich.Related) enrich.Related {
	switch it.Type {
	case "url":
		it.Name = defang(it.Name)
	case "resolution":
		// VirusTotal's resolution id glues the address and the host name
		// together, and the name is one of the two.
		if rest, ok := strings.CutPrefix(it.ID, it.Name); ok && it.Name != "" {
			it.ID = defang(it.Name) + defang(rest)
		} else if rest, ok := strings.CutSuffix(it.ID, it.Name); ok && it.Name != "" {
			it.ID = defang(rest) + defang(it.Name)
		}
		it.Name = defang(it.Name)
	default:
		it.ID = defang(it.ID)
	}
	return it
}

func defangDetails(d enrich.Details) enrich.Details {
	d.DNSRecords = mapped(d.DNSRecords, func(rec enrich.DNSRecord) enrich.DNSRecord {
		rec.Value = defang(rec.Value)
		return rec
	})
	if d.Behaviour != nil {
		b := *d.Behaviour
		b.DNSLookups = defangAll(b.DNSLookups)
		b.IPTraffic = defangAll(b.IPTraffic)
		d.Behaviour = &b
	}
	return d
}

func defangAll(values []string) []string { return mapped(values, defang) }

// mapped returns a new slice with f applied to each element of s, or s
// itself when it is empty, so the caller's slice is never written.
func mapped[T any](s []T, f func(T) T) []T {
	if len(s) == 0 {
		return s
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
