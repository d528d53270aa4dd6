package enrich

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/vt"
)

// maxDetections caps Summary.Detections; the full list stays in the raw
// object for those who need it.
const maxDetections = 10

// SummaryOf extracts the facts triage shows from a VirusTotal file,
// ip_address, domain or url object. Missing or mistyped attributes leave
// their field empty. Strings are copied as VirusTotal sent them, so output
// writers must still neutralise control characters. A nil object gives
// the zero Summary.
func SummaryOf(o *vt.Object) Summary {
	if o == nil {
		return Summary{}
	}
	a := o.Attributes
	s := Summary{
		ThreatLabel:       a.String("popular_threat_classification", "suggested_threat_label"),
		Detections:        detectionsOf(a.Map("last_analysis_results")),
		Tags:              a.Strings("tags"),
		Name:              a.String("meaningful_name"),
		FileType:          a.String("type_description"),
		Size:              a.Int64("size"),
		Country:           a.String("country"),
		ASN:               a.Int64("asn"),
		ASOwner:           a.String("as_owner"),
		Network:           a.String("network"),
		Registrar:         a.String("registrar"),
		FinalURL:          a.String("last_final_url"),
		Title:             a.String("title"),
		Categories:        categoriesOf(a.Map("categories")),
		FirstSubmission:   a.Time("first_submission_date"),
		LastSubmission:    a.Time("last_submission_date"),
		LastAnalysis:      a.Time("last_analysis_date"),
		CreationDate:      a.Time("creation_date"),
		TimesSubmitted:    a.Int64("times_submitted"),
		CommunityHarmful:  a.Int64("total_votes", "malicious"),
		CommunityHarmless: a.Int64("total_votes", "harmless"),
	}
	if s.Name == "" && o.Type == "file" {
		if names := a.Strings("names"); len(names) > 0 {
			s.Name = names[0]
		}
	}
	return s
}

// detectionsOf lists the engines of last_analysis_results that called the
// object malicious, then those that called it suspicious, each group
// sorted by engine name, at most maxDetections in all.
func detectionsOf(results vt.Attributes) []Detection {
	var out []Detection
	for engine := range results {
		r := results.Map(engine)
		cat := r.String("category")
		if cat != "malicious" && cat != "suspicious" {
			continue
		}
		out = append(out, Detection{Engine: engine, Category: cat, Result: r.String("result")})
	}
	slices.SortFunc(out, func(x, y Detection) int {
		if x.Category != y.Category {
			if x.Category == "malicious" {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Engine, y.Engine)
	})
	if len(out) > maxDetections {
		out = out[:maxDetections]
	}
	return out
}

// categoriesOf returns the distinct vendor categories, sorted. VirusTotal
// keys them by vendor, and vendors often agree.
func categoriesOf(m vt.Attributes) []string {
	var out []string
	for _, v := range m {
		c, _ := v.(string)
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// guiBase is the VirusTotal web interface.
const guiBase = "https://www.virustotal.com/gui/"

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// PermalinkOf returns the VirusTotal web page of a normalised indicator,
// or "" for an unknown type. URL pages are keyed by the SHA-256 of the URL.
// That matches VirusTotal's own id when the URL is already in VirusTotal's
// canonical form, and a 64-hex value is taken to be that id.
func PermalinkOf(t ioc.Type, value string) string {
	if value == "" {
		return ""
	}
	switch t {
	case ioc.MD5, ioc.SHA1, ioc.SHA256:
		return guiBase + "file/" + url.PathEscape(value)
	case ioc.IPv4, ioc.IPv6:
		return guiBase + "ip-address/" + url.PathEscape(value)
	case ioc.Domain:
		return guiBase + "domain/" + url.PathEscape(value)
	case ioc.URL:
		if hex64.MatchString(value) {
			return guiBase + "url/" + value
		}
		sum := sha256.Sum256([]byte(value))
		return guiBase + "url/" + hex.EncodeToString(sum[:])
	}
	return ""
}
