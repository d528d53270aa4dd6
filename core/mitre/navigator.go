package mitre

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Versions written into Navigator layers. ATT&CK Navigator 5.x reads layer
// format 4.5; the attack version matches the technique table.
const (
	NavigatorAttackVersion = "18"
	NavigatorVersion       = "5.1.0"
	NavigatorLayerVersion  = "4.5"
)

type layer struct {
	Name                          string           `json:"name"`
	Versions                      layerVersions    `json:"versions"`
	Domain                        string           `json:"domain"`
	Description                   string           `json:"description"`
	Techniques                    []layerTechnique `json:"techniques"`
	Gradient                      layerGradient    `json:"gradient"`
	LegendItems                   []any            `json:"legendItems"`
	Metadata                      []layerMetadata  `json:"metadata"`
	Sorting                       int              `json:"sorting"`
	HideDisabled                  bool             `json:"hideDisabled"`
	ShowTacticRowBackground       bool             `json:"showTacticRowBackground"`
	SelectTechniquesAcrossTactics bool             `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool             `json:"selectSubtechniquesWithParent"`
	Layout                        layerLayout      `json:"layout"`
}

type layerVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

type layerTechnique struct {
	TechniqueID       string          `json:"techniqueID"`
	Tactic            string          `json:"tactic,omitempty"`
	Score             *int            `json:"score,omitempty"`
	Comment           string          `json:"comment,omitempty"`
	Enabled           bool            `json:"enabled"`
	ShowSubtechniques bool            `json:"showSubtechniques"`
	Metadata          []layerMetadata `json:"metadata,omitempty"`
}

type layerGradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

type layerMetadata struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type layerLayout struct {
	Layout   string `json:"layout"`
	ShowID   bool   `json:"showID"`
	ShowName bool   `json:"showName"`
}

// NavigatorLayer returns an ATT&CK Navigator layer (JSON) for the mappings of
// one or more indicators. Each technique is scored with the number of
// mappings that name it, once per tactic; its comment lists the evidence
// and its metadata the sources. A parent of a mapped sub-technique is added
// unscored with its sub-techniques shown, so the Navigator expands it.
func NavigatorLayer(name string, maps []Mapping) ([]byte, error) {
	type agg struct {
		score    int
		evidence []string
		sources  map[string]bool
		tactics  []string
	}
	byID := map[string]*agg{}
	for _, m := range maps {
		if !validID(m.ID) {
			return nil, fmt.Errorf("write navigator layer %q: technique id %q is not of the form T1234 or T1234.567", name, m.ID)
		}
		a := byID[m.ID]
		if a == nil {
			a = &agg{sources: map[string]bool{}, tactics: m.Tactics}
			byID[m.ID] = a
		}
		a.score++
		if m.Evidence != "" {
			a.evidence = append(a.evidence, m.Evidence)
		}
		if m.Source != "" {
			a.sources[m.Source] = true
		}
	}

	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	l := layer{
		Name:                          name,
		Versions:                      layerVersions{NavigatorAttackVersion, NavigatorVersion, NavigatorLayerVersion},
		Domain:                        "enterprise-attack",
		Description:                   "Techniques mapped by vex from VirusTotal data; scores count the mappings per technique.",
		Techniques:                    []layerTechnique{},
		LegendItems:                   []any{},
		Metadata:                      []layerMetadata{{"generator", "vex"}},
		Sorting:                       3, // by score, descending
		Layout:                        layerLayout{Layout: "side", ShowID: true, ShowName: true},
		ShowTacticRowBackground:       false,
		SelectTechniquesAcrossTactics: true,
	}
	maxScore := 1
	parents := map[string][]string{} // parent id -> tactics to expand
	for _, id := range ids {
		a := byID[id]
		maxScore = max(maxScore, a.score)
		var meta []layerMetadata
		for _, s := range sortedSet(a.sources) {
			meta = append(meta, layerMetadata{"source", s})
		}
		tacs := a.tactics
		if len(tacs) == 0 {
			// Without a tactic the Navigator colours the technique in
			// every tactic it belongs to.
			tacs = []string{""}
		}
		for _, tac := range tacs {
			score := a.score
			l.Techniques = append(l.Techniques, layerTechnique{
				TechniqueID: id, Tactic: tac, Score: &score, Enabled: true,
				Comment:  strings.Join(a.evidence, "\n"),
				Metadata: meta,
			})
			if p, _, ok := strings.Cut(id, "."); ok && id != p {
				parents[p] = append(parents[p], tac)
			}
		}
	}
	for _, p := range sortedKeysOf(parents) {
		if _, scored := byID[p]; scored {
			for i := range l.Techniques {
				if l.Techniques[i].TechniqueID == p {
					l.Techniques[i].ShowSubtechniques = true
				}
			}
			continue
		}
		for _, tac := range uniq(parents[p]) {
			l.Techniques = append(l.Techniques, layerTechnique{TechniqueID: p, Tactic: tac, Enabled: true, ShowSubtechniques: true})
		}
	}
	l.Gradient = layerGradient{Colors: []string{"#ffe766ff", "#ff6666ff"}, MinValue: 0, MaxValue: maxScore}

	out, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write navigator layer %q: %w", name, err)
	}
	return append(out, '\n'), nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeysOf(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
