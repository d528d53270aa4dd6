package mitre

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vex-ioc/vex/internal/fixtures"
)

func TestKeywordIDsAreInTable(t *testing.T) {
	if len(keywords) < 80 {
		t.Fatalf("keyword map has %d entries, want at least 80", len(keywords))
	}
	seen := map[string]bool{}
	for _, k := range keywords {
		if _, ok := Lookup(k.id); !ok {
			t.Errorf("keyword %q maps to %s, which is not in the technique table", k.phrase, k.id)
		}
		if seen[k.phrase] {
			t.Errorf("keyword %q is listed twice", k.phrase)
		}
		seen[k.phrase] = true
		if k.phrase != strings.Join(splitWords(k.phrase, false), " ") {
			t.Errorf("keyword %q is not in token form (lower-case words separated by one space), so it can never match", k.phrase)
		}
	}
}

func TestTableRowsAreWellFormed(t *testing.T) {
	if len(Techniques()) < 100 {
		t.Fatalf("technique table has %d rows", len(Techniques()))
	}
	for _, tech := range Techniques() {
		if !validID(tech.ID) || tech.Name == "" || len(tech.Tactics) == 0 {
			t.Errorf("bad row %+v", tech)
		}
	}
	if got, ok := Lookup("t1059.001 "); !ok || got.Name != "PowerShell" {
		t.Errorf("Lookup(t1059.001) = %+v, %v; want PowerShell", got, ok)
	}
}

// readTSV reads a tab-separated file with a header row into maps keyed by
// the header names.
func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	header := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		row := map[string]string{}
		for i, h := range header {
			if i < len(f) {
				row[h] = f[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestTableMatchesMITRE checks the repository's table against MITRE's own
// ATT&CK v18.1 tables: every id exists and is neither deprecated nor
// revoked, and names and tactic sets are MITRE's.
func TestTableMatchesMITRE(t *testing.T) {
	dir := fixtures.Dir(t, "attack")
	mitreRows := map[string]map[string]string{}
	for _, r := range readTSV(t, filepath.Join(dir, "enterprise-techniques.tsv")) {
		mitreRows[r["technique_id"]] = r
	}
	if len(mitreRows) < 800 {
		t.Fatalf("read only %d MITRE rows from %s", len(mitreRows), dir)
	}
	for _, tech := range Techniques() {
		r, ok := mitreRows[tech.ID]
		if !ok {
			t.Errorf("%s is not an ATT&CK Enterprise technique", tech.ID)
			continue
		}
		if r["deprecated"] != "false" || r["revoked"] != "false" {
			t.Errorf("%s is deprecated=%s revoked=%s in ATT&CK", tech.ID, r["deprecated"], r["revoked"])
		}
		if r["name"] != tech.Name {
			t.Errorf("%s name %q, MITRE has %q", tech.ID, tech.Name, r["name"])
		}
		want := strings.Split(r["tactics"], ",")
		got := slices.Clone(tech.Tactics)
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s tactics %v, MITRE has %v", tech.ID, got, want)
		}
	}

	tacRows := readTSV(t, filepath.Join(dir, "enterprise-tactics.tsv"))
	if len(tacRows) != len(Tactics()) {
		t.Errorf("MITRE has %d tactics, the package %d", len(tacRows), len(Tactics()))
	}
	for _, r := range tacRows {
		got, ok := TacticByID(r["tactic_id"])
		if !ok || got.ShortName != r["shortname"] || got.Name != r["name"] {
			t.Errorf("tactic %s: package has %+v, MITRE has %v", r["tactic_id"], got, r)
		}
	}
}

func TestKeywordFalsePositives(t *testing.T) {
	for _, word := range []string{
		"monitor", "administrator", "circle", "history", "Monitoring", "storage", "factor",
		"scheduled", "service", "admin", "tutorial", "doctor", "history-cleaner", "ADMINISTRATOR_TOOLS",
	} {
		attrs := map[string]any{
			"tags": []any{word},
			"popular_threat_classification": map[string]any{
				"suggested_threat_label": word,
				"popular_threat_name":    []any{map[string]any{"value": word, "count": 3.0}},
			},
			"crowdsourced_yara_results": []any{map[string]any{"rule_name": word}},
			"sigma_analysis_results":    []any{map[string]any{"rule_title": word}},
		}
		if got := Map(attrs); len(got) != 0 {
			t.Errorf("%q mapped to %+v, want nothing", word, got)
		}
	}
}

func TestKeywordMatching(t *testing.T) {
	cases := []struct {
		name, value string
		want        []string
	}{
		{"tag with hyphens", "calls-wmi", []string{"T1047"}},
		{"tor as a word", "via-tor", []string{"T1090.003"}},
		{"upper-case sandbox tag", "DETECT_DEBUG_ENVIRONMENT", []string{"T1622"}},
		{"yara rule name", "INDICATOR_SUSPICIOUS_PWSH_B64Encoded_Concatenated_FileEXEC", []string{"T1059.001", "T1027"}},
		{"camel case", "CreateRemoteThreadInjector", []string{"T1055"}},
		{"camel case acronym", "HTMLSmuggling_loader", []string{"T1027.006"}},
		{"longest phrase wins", "generic sql injection scanner", []string{"T1190", "T1595"}},
		{"phrase across words", "Uses schtasks to create a Scheduled Task", []string{"T1053.005"}},
		{"no partial words", "factory monitor tornado storage", nil},
		{"digits are word characters", "64bits", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ids(Map(map[string]any{"tags": []any{c.value}}))
			if !slices.Equal(got, c.want) {
				t.Errorf("Map(tags=%q) = %v, want %v", c.value, got, c.want)
			}
		})
	}
}

func ids(ms []Mapping) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestVirusTotalTechniquesFirst(t *testing.T) {
	attrs := map[string]any{
		"tags":                    []any{"powershell", 42.0, nil},
		"mitre_attack_techniques": []any{map[string]any{"id": "T1059.001", "signature_description": "Runs PowerShell"}, "T9999", "nonsense", 7.0},
	}
	got := Map(attrs)
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if got[0].ID != "T1059.001" || got[0].Source != SourceVirusTotal || got[0].Name != "PowerShell" {
		t.Errorf("first mapping %+v, want T1059.001 from virustotal", got[0])
	}
	if !strings.Contains(got[0].Evidence, "Runs PowerShell") || !strings.Contains(got[0].Evidence, `tags="powershell"`) {
		t.Errorf("evidence %q lacks the signature or the keyword match", got[0].Evidence)
	}
	// An id the table lacks is kept, without a name.
	if got[1].ID != "T9999" || got[1].Name != "" || got[1].Tactics == nil {
		t.Errorf("unknown id mapping %+v", got[1])
	}
}

func TestMapOddTypes(t *testing.T) {
	attrs := map[string]any{
		"tags":                          "obfuscated", // a string, not a list
		"popular_threat_classification": []any{"not", "a", "map"},
		"sandbox_verdicts":              map[string]any{"X": "not a map", "Y": map[string]any{"malware_names": []any{1.0, "Ransomware.Locky"}}},
		"crowdsourced_yara_results":     []any{"x", map[string]any{"rule_name": 5.0}},
		"mitre_attack_techniques":       map[string]any{"T1486": "not a list"},
	}
	got := ids(Map(attrs, nil, map[string]any{"data": "odd"}, map[string]any{"data": []any{1.0, map[string]any{}}}))
	want := []string{"T1486", "T1027"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestMapFixtures maps real VirusTotal payloads: a file object, its
// behaviour summary and a behaviour_mitre_trees response.
func TestMapFixtures(t *testing.T) {
	dir := fixtures.Dir(t, "vt")
	file := fixtures.Attributes(fixtures.LoadJSON(t, filepath.Join(dir, "azul-plugin-virustotal", "crowdsourced.json")))
	summary := fixtures.LoadJSON(t, filepath.Join(dir, "msticpy", "vt3_behavior_summary.json"))
	trees := fixtures.LoadJSON(t, filepath.Join(dir, "deploymenttheory-go-api-sdk-virustotal", "file_behaviours", "mocks", "validate_get_mitre_trees.json"))

	got := Map(file, summary, trees)
	byID := map[string]Mapping{}
	for _, m := range got {
		if _, dup := byID[m.ID]; dup {
			t.Errorf("technique %s mapped twice", m.ID)
		}
		byID[m.ID] = m
		if m.Evidence == "" || (m.Source != SourceVirusTotal && m.Source != SourceKeyword) {
			t.Errorf("mapping without evidence or source: %+v", m)
		}
		if _, ok := Lookup(m.ID); !ok {
			t.Errorf("mapped id %s is not in the technique table", m.ID)
		}
	}
	for id, source := range map[string]string{
		"T1055":     SourceVirusTotal, // summary attack_techniques and trees
		"T1082":     SourceVirusTotal, // behaviour_mitre_trees only
		"T1562.001": SourceVirusTotal,
		"T1047":     SourceKeyword, // tag calls-wmi
		"T1622":     SourceKeyword, // tag detect-debug-environment
		"T1021.005": SourceKeyword, // sandbox malware name HiddenVNC
		"T1555":     SourceKeyword, // sandbox classification STEALER
	} {
		m, ok := byID[id]
		if !ok {
			t.Errorf("%s not mapped; got %v", id, ids(got))
			continue
		}
		if m.Source != source {
			t.Errorf("%s source %s, want %s (evidence %s)", id, m.Source, source, m.Evidence)
		}
	}
	if !strings.Contains(byID["T1082"].Evidence, "behaviour_mitre_trees[VirusTotal Jujubox]") {
		t.Errorf("T1082 evidence %q does not name the sandbox tree", byID["T1082"].Evidence)
	}
}

func TestNavigatorLayer(t *testing.T) {
	maps := []Mapping{
		{ID: "T1055.012", Name: "Process Hollowing", Tactics: []string{"defense-evasion", "privilege-escalation"}, Source: SourceVirusTotal, Evidence: "a"},
		{ID: "T1055.012", Name: "Process Hollowing", Tactics: []string{"defense-evasion", "privilege-escalation"}, Source: SourceKeyword, Evidence: "b"},
		{ID: "T1047", Name: "Windows Management Instrumentation", Tactics: []string{"execution"}, Source: SourceKeyword, Evidence: "tags=\"calls-wmi\""},
	}
	out, err := NavigatorLayer("vex test", maps)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Name     string            `json:"name"`
		Domain   string            `json:"domain"`
		Versions map[string]string `json:"versions"`
		Gradient struct {
			MaxValue int `json:"maxValue"`
		} `json:"gradient"`
		Techniques []struct {
			TechniqueID       string `json:"techniqueID"`
			Tactic            string `json:"tactic"`
			Score             *int   `json:"score"`
			Comment           string `json:"comment"`
			ShowSubtechniques bool   `json:"showSubtechniques"`
			Metadata          []struct{ Name, Value string }
		} `json:"techniques"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatal(err)
	}
	if l.Domain != "enterprise-attack" || l.Versions["attack"] != "18" || l.Versions["layer"] != "4.5" || !strings.HasPrefix(l.Versions["navigator"], "5.") {
		t.Errorf("layer header %+v %+v", l.Domain, l.Versions)
	}
	if l.Gradient.MaxValue != 2 {
		t.Errorf("gradient max %d, want 2", l.Gradient.MaxValue)
	}
	got := map[string]int{}
	for _, tech := range l.Techniques {
		key := tech.TechniqueID + "/" + tech.Tactic
		if tech.Score != nil {
			got[key] = *tech.Score
		} else {
			got[key] = -1
			if !tech.ShowSubtechniques {
				t.Errorf("unscored parent %s does not expand its sub-techniques", key)
			}
		}
		if tech.TechniqueID == "T1055.012" && (tech.Comment != "a\nb" || len(tech.Metadata) != 2) {
			t.Errorf("T1055.012 comment %q metadata %v", tech.Comment, tech.Metadata)
		}
	}
	want := map[string]int{
		"T1055.012/defense-evasion": 2, "T1055.012/privilege-escalation": 2, "T1047/execution": 1,
		"T1055/defense-evasion": -1, "T1055/privilege-escalation": -1,
	}
	if len(got) != len(want) {
		t.Errorf("techniques %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s score %d, want %d", k, got[k], v)
		}
	}

	if _, err := NavigatorLayer("bad", []Mapping{{ID: "1055"}}); err == nil {
		t.Error("a malformed technique id was accepted")
	}
}
