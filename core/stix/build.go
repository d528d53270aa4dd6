// Package stix writes enrichment results as a STIX 2.1 bundle. A bundle
// holds an identity, an indicator per IOC that VirusTotal answered for,
// cyber-observables with the spec's deterministic ids, malware families and
// ATT&CK attack patterns. It links them only with relationships that STIX
// 2.1 defines, and adds notes from the knowledge base and an optional TLP
// 2.0 marking. Values are always the real (refanged) indicators.
package stix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vex-ioc/vex/core/enrich"
	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/verdict"
)

// Options configure Build.
type Options struct {
	// IdentityName names the producer identity; empty means "vex".
	IdentityName string
	// TLP is "", "clear", "green", "amber", "amber+strict" or "red"
	// (case-insensitive, an optional "TLP:" prefix allowed). Empty means no
	// marking.
	TLP string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Techniques holds ATT&CK mappings by normalised IOC.
	Techniques map[string][]mitre.Mapping
	// Families holds malware family names by normalised IOC. When an IOC
	// has none, the family in its VirusTotal threat label is used.
	Families map[string][]string
	// Created, when set, is called with each object's id and the created
	// time this export would give it, and returns the time to use. STIX
	// keeps created the same across an object's versions, so a caller
	// that records first exports (the CLI uses the knowledge base) returns
	// the recorded time for an object exported before.
	Created func(id string, proposed time.Time) time.Time
}

// tlpMarkings are the TLP 2.0 marking definitions OASIS publishes in
// cti-stix-common-objects, with their fixed ids.
var tlpMarkings = map[string]struct{ id, name string }{
	"clear":        {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR"},
	"green":        {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN"},
	"amber":        {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER"},
	"amber+strict": {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "TLP:AMBER+STRICT"},
	"red":          {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED"},
}

// tlpExtension is the extension-definition the TLP 2.0 markings use.
const tlpExtension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

type builder struct {
	opt Options
	now time.Time
	// created is the created time of the objects that the current result
	// adds (see createdTime).
	created  time.Time
	identity string
	markings []string
	objects  []Object
	index    map[string]Object // by id, for de-duplication
}

// Build returns a bundle for results. Only results that VirusTotal
// answered (status ok or not_found) get objects, as exportable explains.
// The same results, options and clock give the same bundle, ids included.
// It fails on an unknown TLP level and a result type that has no STIX
// observable.
func Build(results []enrich.Result, opt Options) (Bundle, error) {
	b := &builder{opt: opt, index: map[string]Object{}}
	b.now = time.Now()
	if opt.Now != nil {
		b.now = opt.Now()
	}
	b.now = b.now.UTC().Truncate(time.Millisecond)

	if err := b.marking(opt.TLP); err != nil {
		return Bundle{}, err
	}
	var exported []enrich.Result
	for _, r := range results {
		if exportable(r) {
			exported = append(exported, r)
		}
	}
	b.addIdentity(exported)
	for _, r := range exported {
		b.created = b.createdTime(r)
		if err := b.addResult(r); err != nil {
			return Bundle{}, err
		}
	}

	ids := make([]string, 0, len(b.objects))
	for _, o := range b.objects {
		ids = append(ids, o.ObjectID())
	}
	sort.Strings(ids)
	return Bundle{Type: "bundle", ID: sdoID("bundle", ids...), Objects: b.objects}, nil
}

// Write encodes bundle as indented JSON followed by a newline. C1 controls
// and invisible formatting characters (bidi overrides, zero-width
// characters) from VirusTotal strings are written as \u escapes. A terminal
// or editor showing the file then cannot act on them, and the decoded
// bundle is unchanged.
func Write(w io.Writer, bundle Bundle) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bundle); err != nil {
		return fmt.Errorf("write stix bundle %s: %w", bundle.ID, err)
	}
	if _, err := w.Write(escapeInvisible(buf.Bytes())); err != nil {
		return fmt.Errorf("write stix bundle %s: %w", bundle.ID, err)
	}
	return nil
}

// escapeInvisible rewrites encoded JSON so that DEL, C1 controls, Cf
// characters and the line and paragraph separators become \u escapes.
// Those characters can only occur inside JSON strings, so the rewrite is
// safe on a whole document.
func escapeInvisible(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			out = fmt.Appendf(out, "\\u%04x", r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// objectID returns the id of a domain or relationship object of the
// producer identity. STIX 2.1 lets only an object's creator version it,
// and created_by_ref may not change between versions. Two producers that
// export the same IOC therefore need different ids, or a TIP that merges
// their bundles takes one producer's indicator as a new version of the
// other's.
func (b *builder) objectID(typ string, parts ...string) string {
	return sdoID(typ, append([]string{b.identity}, parts...)...)
}

func (b *builder) add(o Object) Object {
	if old, ok := b.index[o.ObjectID()]; ok {
		return old
	}
	b.index[o.ObjectID()] = o
	b.objects = append(b.objects, o)
	return o
}

func (b *builder) common(typ, id string, created, modified time.Time) Common {
	if b.opt.Created != nil {
		created = b.opt.Created(id, created.UTC().Truncate(time.Millisecond))
	}
	if modified.Before(created) {
		modified = created
	}
	return Common{
		Type: typ, SpecVersion: SpecVersion, ID: id, CreatedByRef: b.identity,
		Created: ts(created), Modified: ts(modified), ObjectMarkingRefs: b.markings,
	}
}

func (b *builder) marking(level string) error {
	key := strings.ToLower(strings.TrimSpace(level))
	key = strings.TrimPrefix(key, "tlp:")
	if key == "" {
		return nil
	}
	if key == "white" {
		key = "clear" // TLP 1.0's WHITE is TLP 2.0's CLEAR
	}
	m, ok := tlpMarkings[key]
	if !ok {
		return fmt.Errorf("build stix bundle: unknown TLP level %q; use clear, green, amber, amber+strict or red", level)
	}
	b.add(&MarkingDefinition{
		Type: "marking-definition", SpecVersion: SpecVersion, ID: m.id,
		Created: "2022-10-01T00:00:00.000Z", Name: m.name,
		Extensions: map[string]map[string]any{
			tlpExtension: {"extension_type": "property-extension", "tlp_2_0": key},
		},
	})
	b.markings = []string{m.id}
	return nil
}

// exportable reports whether r gets objects in a bundle: only when
// VirusTotal was asked about it and answered. An invalid input has no
// observable. A private or reserved address, an offline cache miss and a
// lookup that failed or never ran carry no finding to share, and a shared
// bundle must not leak internal addressing to partners.
func exportable(r enrich.Result) bool {
	if r.Type == "" || r.Normalized == "" {
		return false
	}
	return r.Status == enrich.StatusOK || r.Status == enrich.StatusNotFound
}

// createdTime returns the created time of the objects for r: when its
// data was fetched, which for a cache hit is the first fetch of the cached
// entry, or the export time when r was not fetched. An object that
// several results share keeps the time of the first of them.
//
// A later export, after the cache entry expired, would give the same ids a
// later created time, although STIX keeps created the same across versions
// of an object; Options.Created lets the caller return the first one.
func (b *builder) createdTime(r enrich.Result) time.Time {
	t := r.FetchedAt.UTC().Truncate(time.Millisecond)
	if t.IsZero() || t.After(b.now) {
		return b.now
	}
	return t
}

// addIdentity adds the producer identity, created at the earliest created
// time of the results.
func (b *builder) addIdentity(results []enrich.Result) {
	name, class := b.opt.IdentityName, "organization"
	if strings.TrimSpace(name) == "" {
		name, class = "vex", "system"
	}
	created := b.now
	for _, r := range results {
		if t := b.createdTime(r); t.Before(created) {
			created = t
		}
	}
	id := sdoID("identity", name)
	c := b.common("identity", id, created, created)
	c.CreatedByRef = ""
	b.add(&Identity{Common: c, Name: name, IdentityClass: class})
	b.identity = id
}

// addResult adds the objects for one IOC.
func (b *builder) addResult(r enrich.Result) error {
	sco, pattern, err := b.observable(r)
	if err != nil {
		return err
	}
	b.add(sco)

	validFrom := b.now
	if !r.FetchedAt.IsZero() {
		validFrom = r.FetchedAt
	}
	ind := &Indicator{
		Common:         b.common("indicator", b.objectID("indicator", string(r.Type), r.Normalized), b.created, b.now),
		Name:           r.Normalized,
		Description:    describe(r),
		IndicatorTypes: []string{indicatorType(r.Verdict)},
		Pattern:        pattern,
		PatternType:    "stix",
		PatternVersion: SpecVersion,
		ValidFrom:      ts(validFrom),
		Labels:         labels(r.Local.Tags),
	}
	if r.Permalink != "" {
		ind.ExternalReferences = []ExternalReference{{SourceName: "VirusTotal", URL: r.Permalink}}
	}
	b.add(ind)

	// STIX 2.1 has no indicator-to-observable relationship; the link runs
	// through observed-data, which an indicator may be based on.
	b.observed(r, ind.ID, sco.ID)

	families := b.opt.Families[r.Normalized]
	if len(families) == 0 {
		families = labelFamilies(r.Summary.ThreatLabel)
	}
	var malwareIDs []string
	for _, f := range families {
		if mw := b.malware(f, r, sco); mw != "" {
			malwareIDs = append(malwareIDs, mw)
			b.relate("indicates", ind.ID, mw)
		}
	}

	for _, m := range b.opt.Techniques[r.Normalized] {
		ap := b.attackPattern(m)
		if ap == "" {
			continue
		}
		weak := keywordEvidence(m)
		b.relateWith("indicates", ind.ID, ap, weak)
		for _, mw := range malwareIDs {
			b.relateWith("uses", mw, ap, weak)
		}
	}

	for _, n := range r.Local.Notes {
		if strings.TrimSpace(n.Text) == "" {
			continue
		}
		created := n.Created
		if created.IsZero() {
			created = b.now
		}
		id := b.objectID("note", string(r.Type), r.Normalized, fmt.Sprint(n.ID), n.Text)
		b.add(&Note{Common: b.common("note", id, created, created), Content: n.Text, ObjectRefs: []string{ind.ID}})
	}
	return nil
}

// observable returns the cyber-observable for r and the indicator pattern
// that matches it.
func (b *builder) observable(r enrich.Result) (*Observable, string, error) {
	v := r.Normalized
	o := &Observable{SpecVersion: SpecVersion, ObjectMarkingRefs: b.markings}
	switch r.Type {
	case ioc.MD5, ioc.SHA1, ioc.SHA256:
		algo := map[ioc.Type]string{ioc.MD5: "MD5", ioc.SHA1: "SHA-1", ioc.SHA256: "SHA-256"}[r.Type]
		v = strings.ToLower(v)
		o.Type, o.Hashes, o.Size = "file", map[string]string{algo: v}, r.Summary.Size
		// A file's id comes from hashes, name, extensions and
		// parent_directory_ref. Only one hash is set here, so it is also the
		// one that STIX's preference order (MD5, SHA-1, SHA-256) picks.
		o.ID = scoID("file", map[string]any{"hashes": map[string]any{algo: v}})
		path := "hashes.MD5"
		if algo != "MD5" {
			path = "hashes.'" + algo + "'"
		}
		return o, fmt.Sprintf("[file:%s = '%s']", path, escapePattern(v)), nil
	case ioc.IPv4:
		o.Type = "ipv4-addr"
	case ioc.IPv6:
		o.Type = "ipv6-addr"
	case ioc.Domain:
		o.Type = "domain-name"
	case ioc.URL:
		o.Type = "url"
	default:
		return nil, "", fmt.Errorf("build stix bundle: indicator %q has unsupported type %q", r.Normalized, r.Type)
	}
	// STIX requires a url object's value to be an RFC 3986 URI, but vex
	// keeps characters such as a backslash or a double quote in a URL's
	// path. The object gets the percent-encoded form, while the pattern
	// matches the URL exactly as given.
	o.Value = v
	if r.Type == ioc.URL {
		o.Value = uriSafe(v)
	}
	o.ID = scoID(o.Type, map[string]any{"value": o.Value})
	return o, fmt.Sprintf("[%s:value = '%s']", o.Type, escapePattern(v)), nil
}

// uriSafe percent-encodes the bytes that RFC 3986 allows nowhere in a URI
// (and a "%" that starts no escape), leaving valid URIs unchanged.
func uriSafe(s string) string {
	const allowed = "-._~:/?#[]@!$&'()*+,;="
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(allowed, c) >= 0:
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// escapePattern escapes a string literal for a STIX pattern, where the
// backslash and the single quote are the only characters with meaning.
func escapePattern(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func (b *builder) observed(r enrich.Result, indicatorID, scoID string) {
	first, last := r.Summary.FirstSubmission, r.Summary.LastSubmission
	if last.IsZero() || (!r.Summary.LastAnalysis.IsZero() && r.Summary.LastAnalysis.After(last)) {
		last = r.Summary.LastAnalysis
	}
	fallback := r.FetchedAt
	if fallback.IsZero() {
		fallback = b.now
	}
	if first.IsZero() {
		first = fallback
	}
	if last.IsZero() {
		last = fallback
	}
	if last.Before(first) {
		first, last = last, first
	}
	count := r.Summary.TimesSubmitted
	if count < 1 {
		count = 1
	}
	if count > 999999999 { // the maximum STIX allows for number_observed
		count = 999999999
	}
	id := b.objectID("observed-data", scoID)
	b.add(&ObservedData{
		Common:        b.common("observed-data", id, b.created, b.now),
		FirstObserved: ts(first), LastObserved: ts(last), NumberObserved: count,
		ObjectRefs: []string{scoID},
	})
	b.relate("based-on", indicatorID, id)
}

// malware returns the id of the family's malware object, adding it or
// extending its samples. A file IOC becomes a sample; a network IOC is
// something the family communicates with.
func (b *builder) malware(family string, r enrich.Result, sco *Observable) string {
	family = strings.TrimSpace(family)
	if family == "" {
		return ""
	}
	id := b.objectID("malware", strings.ToLower(family))
	o := b.add(&Malware{Common: b.common("malware", id, b.created, b.now), Name: family, IsFamily: true})
	mw := o.(*Malware)
	if sco.Type == "file" {
		if !contains(mw.SampleRefs, sco.ID) {
			mw.SampleRefs = append(mw.SampleRefs, sco.ID)
		}
	} else {
		b.relate("communicates-with", id, sco.ID)
	}
	return id
}

func (b *builder) attackPattern(m mitre.Mapping) string {
	t, known := mitre.Lookup(m.ID)
	name, tactics := m.Name, m.Tactics
	if known {
		name, tactics = t.Name, t.Tactics
	}
	if m.ID == "" {
		return ""
	}
	if name == "" {
		name = m.ID
	}
	id := b.objectID("attack-pattern", "mitre-attack", strings.ToUpper(m.ID))
	ap := &AttackPattern{
		Common: b.common("attack-pattern", id, b.created, b.created),
		Name:   name,
		ExternalReferences: []ExternalReference{{
			SourceName: "mitre-attack", ExternalID: strings.ToUpper(m.ID), URL: mitre.URL(strings.ToUpper(m.ID)),
		}},
	}
	for _, tac := range tactics {
		ap.KillChainPhases = append(ap.KillChainPhases, KillChainPhase{KillChainName: "mitre-attack", PhaseName: tac})
	}
	b.add(ap)
	return id
}

func (b *builder) relate(kind, source, target string) {
	b.relateWith(kind, source, target, evidence{})
}

// evidence is the description and confidence of a relationship; the zero
// value leaves both out.
type evidence struct {
	description string
	confidence  int
}

func (b *builder) relateWith(kind, source, target string, ev evidence) {
	id := b.objectID("relationship", kind, source, target)
	b.add(&Relationship{
		Common:           b.common("relationship", id, b.created, b.created),
		RelationshipType: kind, SourceRef: source, TargetRef: target,
		Description: ev.description, Confidence: ev.confidence,
	})
}

// keywordConfidence is the confidence of a technique inferred from a
// keyword: "Low" on the None/Low/Med/High scale of STIX 2.1 appendix A.
const keywordConfidence = 15

// keywordEvidence returns the evidence of relationships to the technique
// of m when m was inferred from a keyword in a tag, a classification, a
// verdict or a rule name. Such a match is weak evidence (the tag "-cmd"
// maps to the Windows Command Shell), so a TIP must be able to tell it
// from the techniques VirusTotal's sandboxes reported, which get none.
func keywordEvidence(m mitre.Mapping) evidence {
	if m.Source != mitre.SourceKeyword {
		return evidence{}
	}
	desc := "ATT&CK technique inferred by vex from a keyword match"
	if m.Evidence != "" {
		desc += ": " + m.Evidence
	}
	return evidence{description: desc, confidence: keywordConfidence}
}

func indicatorType(v verdict.Verdict) string {
	switch v {
	case verdict.Malicious:
		return "malicious-activity"
	case verdict.Suspicious:
		return "anomalous-activity"
	case verdict.Clean:
		return "benign"
	}
	return "unknown"
}

func describe(r enrich.Result) string {
	var s strings.Builder
	fmt.Fprintf(&s, "vex verdict %s", r.Verdict)
	switch r.Status {
	case enrich.StatusOK:
		st := r.Stats
		fmt.Fprintf(&s, ": VirusTotal %d malicious, %d suspicious, %d undetected, %d harmless of %d engines",
			st.Malicious, st.Suspicious, st.Undetected, st.Harmless, r.Engines)
		if r.Summary.ThreatLabel != "" {
			fmt.Fprintf(&s, "; threat label %s", r.Summary.ThreatLabel)
		}
	case enrich.StatusNotFound:
		s.WriteString(": not in VirusTotal")
	default:
		fmt.Fprintf(&s, " (lookup status %s)", r.Status)
	}
	if len(r.Local.Watchlists) > 0 {
		fmt.Fprintf(&s, "; watchlists %s", strings.Join(r.Local.Watchlists, ", "))
	}
	return s.String()
}

// labelFamilies returns the family in a VirusTotal suggested threat label
// such as "trojan.orcusrat/msil" or "trojan.msil/tasker": the first name
// after the category that is not a platform or a generic word.
func labelFamilies(label string) []string {
	_, rest, ok := strings.Cut(label, ".")
	if !ok {
		return nil
	}
	for _, name := range strings.Split(rest, "/") {
		name = strings.TrimSpace(name)
		if name != "" && !genericLabelNames[strings.ToLower(name)] {
			return []string{name}
		}
	}
	return nil
}

// genericLabelNames are platform and generic words that appear in
// VirusTotal threat labels in place of a family name.
var genericLabelNames = map[string]bool{
	"msil": true, "win32": true, "win64": true, "w32": true, "w64": true, "win": true, "windows": true,
	"linux": true, "elf": true, "android": true, "macos": true, "osx": true, "js": true, "javascript": true,
	"vbs": true, "vba": true, "html": true, "pdf": true, "script": true, "powershell": true, "python": true,
	"php": true, "java": true, "office": true, "doc": true, "xls": true, "generic": true, "gen": true,
	"agent": true, "malware": true, "heuristic": true, "ai": true,
}

func labels(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" && !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
