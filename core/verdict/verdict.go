// Package verdict turns VirusTotal analysis statistics into one verdict.
package verdict

// Verdict is the outcome for one indicator, ordered from best to worst so
// that the worst of a batch is a plain maximum.
type Verdict int

const (
	Unknown Verdict = iota
	Clean
	Suspicious
	Malicious
)

var names = [...]string{"UNKNOWN", "CLEAN", "SUSPICIOUS", "MALICIOUS"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(names) {
		return "UNKNOWN"
	}
	return names[v]
}

// Parse reads a verdict name, case-insensitively. It reports false for
// anything else.
func Parse(s string) (Verdict, bool) {
	for i, n := range names {
		if equalFold(s, n) {
			return Verdict(i), true
		}
	}
	return Unknown, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// MarshalText writes the verdict name, so JSON carries "MALICIOUS", not 3.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a verdict name; unknown names become Unknown.
func (v *Verdict) UnmarshalText(b []byte) error {
	*v, _ = Parse(string(b))
	return nil
}

// Severity orders verdicts for exit codes and alert filters. Clean and
// Unknown share the lowest severity because neither calls for action.
func (v Verdict) Severity() int {
	switch v {
	case Malicious:
		return 2
	case Suspicious:
		return 1
	}
	return 0
}

// Stats are the counts of VirusTotal's last_analysis_stats.
type Stats struct {
	Malicious        int `json:"malicious"`
	Suspicious       int `json:"suspicious"`
	Undetected       int `json:"undetected"`
	Harmless         int `json:"harmless"`
	Timeout          int `json:"timeout"`
	Failure          int `json:"failure"`
	TypeUnsupported  int `json:"type-unsupported"`
	ConfirmedTimeout int `json:"confirmed-timeout"`
}

// Engines counts the engines that gave an opinion. Timeouts, failures and
// unsupported types are not opinions, so they do not count.
func (s Stats) Engines() int {
	return s.Malicious + s.Suspicious + s.Undetected + s.Harmless
}

// Thresholds set where each verdict starts. The zero value is not useful;
// start from DefaultThresholds.
type Thresholds struct {
	Malicious  int `toml:"malicious"`   // malicious detections for MALICIOUS
	Suspicious int `toml:"suspicious"`  // malicious or suspicious detections for SUSPICIOUS
	MinEngines int `toml:"min_engines"` // fewer engines than this is UNKNOWN
}

// DefaultThresholds: MALICIOUS from 3 detections, SUSPICIOUS from 1, and
// fewer than 10 engines is too little evidence for CLEAN.
var DefaultThresholds = Thresholds{Malicious: 3, Suspicious: 1, MinEngines: 10}

// Of returns the verdict that stats imply under t. Detections outrank the
// engine minimum: 3 malicious out of 5 engines is still MALICIOUS.
func Of(s Stats, t Thresholds) Verdict {
	switch {
	case s.Malicious >= t.Malicious:
		return Malicious
	case s.Malicious >= t.Suspicious || s.Suspicious >= t.Suspicious:
		return Suspicious
	case s.Engines() < t.MinEngines:
		return Unknown
	}
	return Clean
}
