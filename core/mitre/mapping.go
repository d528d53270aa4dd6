package mitre

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Sources of a mapping.
const (
	// SourceVirusTotal marks techniques that VirusTotal's sandboxes reported.
	SourceVirusTotal = "virustotal"
	// SourceKeyword marks techniques inferred from a keyword in a tag, a
	// classification, a verdict or a rule name.
	SourceKeyword = "keyword"
)

// maxEvidence caps the evidence items kept per technique, so one noisy
// sandbox cannot flood a report.
const maxEvidence = 5

// Mapping is one technique found for an indicator.
type Mapping struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Tactics []string `json:"tactics"` // tactic short names
	// Source is SourceVirusTotal or SourceKeyword: where the first evidence
	// for this technique came from.
	Source string `json:"source"`
	// Evidence names the fields and values that matched, separated by "; ".
	Evidence string `json:"evidence"`
}

// keyword is one entry of the keyword map.
type keyword struct {
	phrase string // lower-case tokens separated by single spaces
	id     string
}

var (
	phraseToID   map[string]string
	maxPhraseLen int
)

func init() {
	phraseToID = make(map[string]string, len(keywords))
	for _, k := range keywords {
		phraseToID[k.phrase] = k.id
		if n := len(strings.Fields(k.phrase)); n > maxPhraseLen {
			maxPhraseLen = n
		}
	}
}

// Map returns the techniques found in a VirusTotal object's attributes and in
// optional behaviour documents, one Mapping per technique id. VirusTotal's
// own technique lists come first (attributes mitre_attack_techniques, and in
// behaviour documents attack_techniques, mitre_attack_techniques and the
// behaviour_mitre_trees shape), then keyword matches over tags,
// popular_threat_classification, sandbox_verdicts, crowdsourced YARA rule
// names, Sigma rule titles and behaviour tags and verdicts. A behaviour
// document may be the API response ({"data": ...}), a list of behaviour
// objects, one object with "attributes", or the attributes alone. Fields of
// unexpected types are ignored. An id reported by VirusTotal that is not in
// the technique table keeps the name VirusTotal gave, if any.
func Map(attrs map[string]any, behaviour ...map[string]any) []Mapping {
	m := &mapper{byID: map[string]int{}}

	// VirusTotal's own mappings first, so they win the Source field.
	m.vtTechniques("mitre_attack_techniques", attrs["mitre_attack_techniques"])
	var docs []map[string]any
	for _, b := range behaviour {
		docs = append(docs, behaviourDocs(b)...)
	}
	for _, d := range docs {
		m.vtTechniques("attack_techniques", d["attack_techniques"])
		m.vtTechniques("mitre_attack_techniques", d["mitre_attack_techniques"])
		m.mitreTrees(d)
	}

	// Keywords over the object's own fields, then over the sandboxes'.
	for _, tag := range stringList(attrs["tags"]) {
		m.keywords("tags", tag)
	}
	if ptc, ok := attrs["popular_threat_classification"].(map[string]any); ok {
		if s, ok := ptc["suggested_threat_label"].(string); ok {
			m.keywords("popular_threat_classification.suggested_threat_label", s)
		}
		for _, field := range []string{"popular_threat_category", "popular_threat_name"} {
			for _, item := range mapList(ptc[field]) {
				if s, ok := item["value"].(string); ok {
					m.keywords("popular_threat_classification."+field, s)
				}
			}
		}
	}
	if sv, ok := attrs["sandbox_verdicts"].(map[string]any); ok {
		for _, name := range sortedKeys(sv) {
			v, ok := sv[name].(map[string]any)
			if !ok {
				continue
			}
			field := fmt.Sprintf("sandbox_verdicts[%s]", name)
			for _, s := range stringList(v["malware_classification"]) {
				m.keywords(field+".malware_classification", s)
			}
			for _, s := range stringList(v["malware_names"]) {
				m.keywords(field+".malware_names", s)
			}
		}
	}
	for _, r := range mapList(attrs["crowdsourced_yara_results"]) {
		if s, ok := r["rule_name"].(string); ok {
			m.keywords("crowdsourced_yara_results.rule_name", s)
		}
	}
	for _, r := range mapList(attrs["sigma_analysis_results"]) {
		if s, ok := r["rule_title"].(string); ok {
			m.keywords("sigma_analysis_results.rule_title", s)
		}
	}
	for _, d := range docs {
		for _, field := range []string{"tags", "verdicts", "verdict_labels"} {
			for _, s := range stringList(d[field]) {
				m.keywords("behaviour."+field, s)
			}
		}
	}
	return m.out
}

type mapper struct {
	out  []Mapping
	byID map[string]int // index into out
	// evidence counts the items joined into each Mapping's Evidence.
	evidence []int
}

// add records one piece of evidence for technique id. name and tactics are
// used only when the table has no row for id.
func (m *mapper) add(id, source, evidence, name string, tacs []string) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if !validID(id) {
		return
	}
	if i, ok := m.byID[id]; ok {
		if m.evidence[i] < maxEvidence && !strings.Contains(m.out[i].Evidence, evidence) {
			m.out[i].Evidence += "; " + evidence
			m.evidence[i]++
		}
		return
	}
	mp := Mapping{ID: id, Name: name, Tactics: tacs, Source: source, Evidence: evidence}
	if t, ok := Lookup(id); ok {
		mp.Name, mp.Tactics = t.Name, append([]string(nil), t.Tactics...)
	}
	if mp.Tactics == nil {
		mp.Tactics = []string{}
	}
	m.byID[id] = len(m.out)
	m.out = append(m.out, mp)
	m.evidence = append(m.evidence, 1)
}

// vtTechniques reads VirusTotal's technique lists: a map from id to a list
// of signatures (behaviour summary), or a list of objects with "id" and
// "signature_description" (file behaviour reports), or a list of ids.
func (m *mapper) vtTechniques(field string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, id := range sortedKeys(v) {
			desc := ""
			if sigs := mapList(v[id]); len(sigs) > 0 {
				desc, _ = sigs[0]["description"].(string)
			}
			m.add(id, SourceVirusTotal, evidence(field, id, desc), "", nil)
		}
	case []any:
		for _, item := range v {
			switch item := item.(type) {
			case string:
				m.add(item, SourceVirusTotal, evidence(field, item, ""), "", nil)
			case map[string]any:
				id, _ := item["id"].(string)
				desc, _ := item["signature_description"].(string)
				if desc == "" {
					desc, _ = item["description"].(string)
				}
				m.add(id, SourceVirusTotal, evidence(field, id, desc), "", nil)
			}
		}
	}
}

// mitreTrees reads the behaviour_mitre_trees shape: sandbox name to
// {"tactics": [{"id", "techniques": [{"id", "name", "signatures"}]}]}.
func (m *mapper) mitreTrees(doc map[string]any) {
	for _, sandbox := range sortedKeys(doc) {
		tree, ok := doc[sandbox].(map[string]any)
		if !ok {
			continue
		}
		for _, tac := range mapList(tree["tactics"]) {
			var tacs []string
			if tid, ok := tac["id"].(string); ok {
				if t, ok := TacticByID(tid); ok {
					tacs = []string{t.ShortName}
				}
			}
			for _, tech := range mapList(tac["techniques"]) {
				id, _ := tech["id"].(string)
				name, _ := tech["name"].(string)
				desc := ""
				if sigs := mapList(tech["signatures"]); len(sigs) > 0 {
					desc, _ = sigs[0]["description"].(string)
				}
				field := fmt.Sprintf("behaviour_mitre_trees[%s]", sandbox)
				m.add(id, SourceVirusTotal, evidence(field, id, desc), name, tacs)
			}
		}
	}
}

// keywords records every keyword found in value as whole words.
func (m *mapper) keywords(field, value string) {
	done := map[string]bool{} // one evidence item per technique and value
	for _, phrase := range matchKeywords(value) {
		id := phraseToID[phrase]
		if !done[id] {
			done[id] = true
			m.add(id, SourceKeyword, fmt.Sprintf("%s=%q (keyword %q)", field, value, phrase), "", nil)
		}
	}
}

func evidence(field, id, desc string) string {
	if desc == "" {
		return fmt.Sprintf("%s: %s", field, id)
	}
	return fmt.Sprintf("%s: %s %q", field, id, desc)
}

// matchKeywords returns the keyword phrases found in s, each once, in order
// of first appearance. The text is split into words twice, at every
// character that is not a letter or digit and additionally at case changes
// ("CreateRemoteThread"), and the longest phrase wins at each word, so
// "sql injection" is not also read as "injection".
func matchKeywords(s string) []string {
	var found []string
	seen := map[string]bool{}
	for _, words := range [][]string{splitWords(s, false), splitWords(s, true)} {
		for i := 0; i < len(words); {
			n := 0
			for l := min(maxPhraseLen, len(words)-i); l > 0; l-- {
				p := strings.Join(words[i:i+l], " ")
				if _, ok := phraseToID[p]; ok {
					if !seen[p] {
						seen[p] = true
						found = append(found, p)
					}
					n = l
					break
				}
			}
			i += max(n, 1)
		}
	}
	return found
}

// splitWords lower-cases s and splits it into runs of letters and digits.
// With camel set, a run also splits before an upper-case letter that follows
// a lower-case one, and before the last capital of an upper-case run that
// starts a new word ("HTMLSmuggling" gives "html", "smuggling").
func splitWords(s string, camel bool) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if camel && len(cur) > 0 && unicode.IsUpper(r) {
			prev := cur[len(cur)-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// behaviourDocs unwraps the shapes a behaviour document arrives in and
// returns the attribute maps inside.
func behaviourDocs(b map[string]any) []map[string]any {
	if b == nil {
		return nil
	}
	switch d := b["data"].(type) {
	case map[string]any:
		return behaviourDocs(d)
	case []any:
		var out []map[string]any
		for _, item := range d {
			if mm, ok := item.(map[string]any); ok {
				out = append(out, behaviourDocs(mm)...)
			}
		}
		return out
	}
	if a, ok := b["attributes"].(map[string]any); ok {
		return []map[string]any{a}
	}
	return []map[string]any{b}
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func mapList(v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, item := range v {
			if mm, ok := item.(map[string]any); ok {
				out = append(out, mm)
			}
		}
		return out
	}
	return nil
}

// sortedKeys returns the keys of m sorted, so output does not depend on Go's
// map order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
