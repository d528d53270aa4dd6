package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vex-ioc/vex/core/ioc"
	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/timeline"
	"github.com/vex-ioc/vex/core/verdict"
	"github.com/vex-ioc/vex/core/vt"
)

// Behaviour sections are documents, not relationship lists.
const (
	sectionBehaviourSummary = "behaviour_summary"
	sectionMitreTrees       = "behaviour_mitre_trees"
)

// investigateSections lists the requests investigate adds to the object
// report, per indicator type.
func investigateSections(t ioc.Type) []string {
	switch {
	case t.IsHash():
		return []string{sectionBehaviourSummary, sectionMitreTrees, "contacted_ips", "contacted_domains",
			"contacted_urls", "dropped_files", "execution_parents"}
	case t == ioc.IPv4 || t == ioc.IPv6:
		return []string{"resolutions", "communicating_files", "downloaded_files"}
	case t == ioc.Domain:
		return []string{"resolutions", "subdomains", "communicating_files", "historical_whois"}
	case t == ioc.URL:
		return []string{"downloaded_files", "contacted_domains"}
	}
	return nil
}

// investigation is the cached form: the raw answers, decoded on every read
// so that an improved decoder also improves cached results.
type investigation struct {
	Version  int                   `json:"investigation"`
	Object   json.RawMessage       `json:"object,omitempty"` // {"data": ...} of the object report
	Sections map[string]rawSection `json:"sections"`
}

type rawSection struct {
	Status    string            `json:"status"`
	Error     string            `json:"error,omitempty"`
	Items     []json.RawMessage `json:"items,omitempty"` // relationship objects
	Data      json.RawMessage   `json:"data,omitempty"`  // behaviour documents
	Truncated bool              `json:"truncated,omitempty"`
}

var investigationPrefix = []byte(`{"investigation":`)

func isInvestigation(data []byte) bool { return bytes.HasPrefix(data, investigationPrefix) }

// investigate fetches the object report and then each section. A failed
// section is recorded and the rest go on; the quota running out skips the
// remaining sections, and the record is partial.
func (v *VirusTotal) investigate(ctx context.Context, i ioc.IOC) (Record, error) {
	obj, err := v.Client.GetObject(ctx, i.Type, i.Value)
	if errors.Is(err, vt.ErrNotFound) {
		return Record{Status: RecordNotFound}, nil
	}
	if err != nil {
		return Record{}, v.classify(ctx, err)
	}

	inv := investigation{Version: 1, Object: envelope(obj.Raw), Sections: map[string]rawSection{}}
	status := RecordOK
	quotaOut := false
	for _, name := range investigateSections(i.Type) {
		if quotaOut {
			inv.Sections[name] = rawSection{Status: SectionSkipped, Error: "not fetched: quota exhausted"}
			status = RecordPartial
			continue
		}
		sec, err := v.fetchSection(ctx, i, name)
		switch {
		case err == nil:
		case errors.Is(err, vt.ErrForbidden):
			sec = rawSection{Status: SectionRequiresPremium, Error: "requires a premium API key"}
		case errors.Is(err, vt.ErrNotFound):
			sec = rawSection{Status: SectionOK}
		case ctx.Err() != nil:
			return Record{}, ctx.Err()
		default:
			err = v.classify(ctx, err)
			if errors.Is(err, ErrUnauthorized) {
				return Record{}, err
			}
			quotaOut = errors.Is(err, ErrQuota)
			sec = rawSection{Status: SectionError, Error: err.Error()}
			status = RecordPartial
		}
		inv.Sections[name] = sec
	}
	data, err := json.Marshal(inv)
	if err != nil {
		return Record{}, fmt.Errorf("encode investigation of %s: %w", i.Value, err)
	}
	return Record{Status: status, Data: data}, nil
}

func (v *VirusTotal) fetchSection(ctx context.Context, i ioc.IOC, name string) (rawSection, error) {
	if name == sectionBehaviourSummary || name == sectionMitreTrees {
		base, err := vt.ObjectPath(i.Type, i.Value)
		if err != nil {
			return rawSection{}, err
		}
		body, err := v.Client.Get(ctx, base+"/"+name, nil)
		if err != nil {
			return rawSection{}, err
		}
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || len(env.Data) == 0 {
			return rawSection{}, fmt.Errorf("decode %s of %s: %w", name, i.Value, vt.ErrDecode)
		}
		return rawSection{Status: SectionOK, Data: env.Data}, nil
	}

	limits := v.Relationships
	if limits.PageSize <= 0 {
		limits.PageSize = 20
	}
	if limits.MaxItems <= 0 {
		limits.MaxItems = 40
	}
	coll, err := v.Client.Relationship(ctx, i.Type, i.Value, name, limits.PageSize, limits.MaxItems)
	if err != nil {
		return rawSection{}, err
	}
	// Relationship drops list elements that are not JSON objects and fails
	// on a page with no object at all. Objects without a type or id become
	// an error in decodeInvestigation.
	sec := rawSection{Status: SectionOK, Truncated: coll.Truncated}
	for _, o := range coll.Data {
		if len(o.Raw) > 0 {
			sec.Items = append(sec.Items, o.Raw)
		}
	}
	return sec, nil
}

// decodeInvestigation fills r from a cached or fresh investigation record.
func (v *VirusTotal) decodeInvestigation(i ioc.IOC, rec Record, r *Result) error {
	var inv investigation
	if err := json.Unmarshal(rec.Data, &inv); err != nil {
		return fmt.Errorf("decode investigation: %w", err)
	}
	obj, err := vt.DecodeObject(inv.Object)
	if err != nil {
		return err
	}
	v.fillObject(i, obj, r)

	out := &Investigation{Details: DetailsOf(obj)}
	var behaviour []map[string]any
	var events [][]timeline.Event
	events = append(events, r.Timeline)
	for _, name := range investigateSections(i.Type) {
		raw, ok := inv.Sections[name]
		if !ok {
			continue
		}
		sec := Section{Name: name, Status: raw.Status, Error: raw.Error, Truncated: raw.Truncated}
		undecoded := 0
		for _, item := range raw.Items {
			o, err := vt.DecodeObject(envelope(item))
			if err != nil || o.Type == "" || o.ID == "" {
				undecoded++
				continue
			}
			sec.Items = append(sec.Items, relatedOf(i.Type, o, v.thresholds()))
			if name == "resolutions" {
				events = append(events, timeline.FromResolutions(i.Value, []any{map[string]any(o.Attributes)}))
			}
		}
		if undecoded > 0 && sec.Status == SectionOK {
			// An empty ok section reads as "none", but items that are not
			// VirusTotal objects leave the list unknown, so the result is
			// partial. The items that did decode are kept.
			sec.Status = SectionError
			sec.Error = fmt.Sprintf("decode %s of %s: %d of %d items are not VirusTotal objects", name, i.Value, undecoded, len(raw.Items))
		}
		if sec.Status == SectionError || sec.Status == SectionSkipped {
			out.Missing = append(out.Missing, name)
		}
		if len(raw.Data) > 0 {
			var doc map[string]any
			if json.Unmarshal(raw.Data, &doc) == nil {
				behaviour = append(behaviour, doc)
				if name == sectionBehaviourSummary {
					out.Details.Behaviour = behaviourOf(vt.Attributes(doc))
				}
			} else {
				var list []any
				if json.Unmarshal(raw.Data, &list) == nil {
					behaviour = append(behaviour, map[string]any{"data": list})
					events = append(events, timeline.FromSandboxRuns(i.Value, list))
				}
			}
		}
		out.Sections = append(out.Sections, sec)
	}
	out.Techniques = mitre.Map(obj.Attributes, behaviour...)
	r.Timeline = timeline.Merge(events...)
	r.Investigation = out
	return nil
}

func (v *VirusTotal) thresholds() verdict.Thresholds {
	if v.Thresholds == (verdict.Thresholds{}) {
		return verdict.DefaultThresholds
	}
	return v.Thresholds
}

// relatedOf summarises one object of a relationship list of an indicator
// of type parent.
func relatedOf(parent ioc.Type, o *vt.Object, th verdict.Thresholds) Related {
	a := o.Attributes
	rel := Related{Type: o.Type, ID: o.ID}
	keys := []string{"meaningful_name", "host_name", "ip_address", "url", "last_final_url"}
	if o.Type == "resolution" && parent != ioc.Domain {
		// A resolution contains both sides. Its name is the side that is
		// not the indicator itself: the address for a domain, the host for
		// an IP.
		keys = []string{"host_name"}
	} else if o.Type == "resolution" {
		keys = []string{"ip_address"}
	}
	for _, k := range keys {
		if s := a.String(k); s != "" {
			rel.Name = s
			break
		}
	}
	if rel.Name == "" && o.Type == "url" {
		rel.Name = contextURL(o.Raw)
	}
	if rel.Name == "" {
		if names := a.Strings("names"); len(names) > 0 {
			rel.Name = names[0]
		}
	}
	if o.HasStats() {
		s := o.Stats()
		rel.Malicious = s.Malicious
		rel.Engines = s.Engines()
		rel.Verdict = verdict.Of(s, th)
	}
	rel.Date = a.Time("date")
	return rel
}

// contextURL returns the "url" of a relationship item's context_attributes,
// or "" when it is missing or not a string. A relationship item may come
// with empty attributes, and its address is then only in
// context_attributes.
func contextURL(raw json.RawMessage) string {
	var item struct {
		ContextAttributes map[string]any `json:"context_attributes"`
	}
	if json.Unmarshal(raw, &item) != nil {
		return ""
	}
	u, _ := item.ContextAttributes["url"].(string)
	return u
}
