// Package mitre maps VirusTotal data to MITRE ATT&CK Enterprise techniques:
// VirusTotal's own sandbox technique lists first, then a keyword map over
// tags, threat classification, sandbox verdicts and YARA and Sigma rule
// names. It also writes ATT&CK Navigator layers.
package mitre

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed techniques.tsv
var techniquesTSV string

// Technique is one row of the technique table.
type Technique struct {
	ID      string   `json:"id"`      // e.g. T1055 or T1055.012
	Name    string   `json:"name"`    // MITRE's name, e.g. "Process Hollowing"
	Tactics []string `json:"tactics"` // tactic short names, e.g. defense-evasion
}

// Tactic is one ATT&CK Enterprise tactic.
type Tactic struct {
	ID        string // e.g. TA0005
	ShortName string // e.g. defense-evasion, as used in kill chain phases
	Name      string // e.g. Defense Evasion
}

// tactics lists the 14 Enterprise tactics of ATT&CK v18.1.
var tactics = []Tactic{
	{"TA0043", "reconnaissance", "Reconnaissance"},
	{"TA0042", "resource-development", "Resource Development"},
	{"TA0001", "initial-access", "Initial Access"},
	{"TA0002", "execution", "Execution"},
	{"TA0003", "persistence", "Persistence"},
	{"TA0004", "privilege-escalation", "Privilege Escalation"},
	{"TA0005", "defense-evasion", "Defense Evasion"},
	{"TA0006", "credential-access", "Credential Access"},
	{"TA0007", "discovery", "Discovery"},
	{"TA0008", "lateral-movement", "Lateral Movement"},
	{"TA0009", "collection", "Collection"},
	{"TA0011", "command-and-control", "Command and Control"},
	{"TA0010", "exfiltration", "Exfiltration"},
	{"TA0040", "impact", "Impact"},
}

var (
	techniques    []Technique          // table rows in file order
	techniqueByID map[string]Technique // the same rows by id
)

func init() {
	var err error
	techniques, err = parseTable(techniquesTSV)
	if err != nil {
		// The table is embedded at build time, so a bad row is a programming
		// error that every test run catches.
		panic(err)
	}
	techniqueByID = make(map[string]Technique, len(techniques))
	for _, t := range techniques {
		techniqueByID[t.ID] = t
	}
}

// parseTable reads the embedded TSV: id, name, comma-separated tactics, with
// "#" comment lines.
func parseTable(text string) ([]Technique, error) {
	var out []Technique
	seen := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || !validID(f[0]) || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("parse technique table line %d %q: want id, name and tactics separated by tabs", n+1, line)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("parse technique table line %d: duplicate id %s", n+1, f[0])
		}
		seen[f[0]] = true
		tacs := strings.Split(f[2], ",")
		for _, s := range tacs {
			if _, ok := TacticByShortName(s); !ok {
				return nil, fmt.Errorf("parse technique table line %d: unknown tactic %q for %s", n+1, s, f[0])
			}
		}
		out = append(out, Technique{ID: f[0], Name: f[1], Tactics: tacs})
	}
	return out, nil
}

// Lookup returns the table row for a technique id such as "T1055.012".
func Lookup(id string) (Technique, bool) {
	t, ok := techniqueByID[strings.ToUpper(strings.TrimSpace(id))]
	return t, ok
}

// Techniques returns a copy of the technique table sorted by id.
func Techniques() []Technique {
	out := make([]Technique, len(techniques))
	copy(out, techniques)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Tactics returns the Enterprise tactics in matrix order.
func Tactics() []Tactic { return append([]Tactic(nil), tactics...) }

// TacticByID returns the tactic with id such as "TA0005".
func TacticByID(id string) (Tactic, bool) {
	for _, t := range tactics {
		if strings.EqualFold(t.ID, id) {
			return t, true
		}
	}
	return Tactic{}, false
}

// TacticByShortName returns the tactic with a short name such as
// "defense-evasion".
func TacticByShortName(name string) (Tactic, bool) {
	for _, t := range tactics {
		if t.ShortName == name {
			return t, true
		}
	}
	return Tactic{}, false
}

// validID reports whether id has the form T1234 or T1234.567.
func validID(id string) bool {
	if len(id) != 5 && len(id) != 9 {
		return false
	}
	if id[0] != 'T' || !digits(id[1:5]) {
		return false
	}
	return len(id) == 5 || (id[5] == '.' && digits(id[6:]))
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// URL returns the technique's page on attack.mitre.org, e.g.
// https://attack.mitre.org/techniques/T1055/012/ for T1055.012.
func URL(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.Replace(id, ".", "/", 1) + "/"
}
