package enrich

import (
	"time"

	"github.com/vex-ioc/vex/core/mitre"
	"github.com/vex-ioc/vex/core/verdict"
)

// Section statuses of an investigation.
const (
	SectionOK              = "ok"
	SectionRequiresPremium = "requires_premium" // 403: the key's tier cannot use the endpoint
	SectionError           = "error"            // the request failed; the result is partial
	SectionSkipped         = "skipped"          // not requested because the quota ran out
)

// Investigation is what investigate adds to a triage result.
type Investigation struct {
	Sections []Section `json:"sections"`
	// Missing names the sections that failed, which makes the result
	// partial. Sections that need a premium key are not missing: asking
	// again would not help.
	Missing    []string        `json:"missing,omitempty"`
	Details    Details         `json:"details,omitzero"`
	Techniques []mitre.Mapping `json:"techniques,omitempty"`
}

// Section is one relationship list or behaviour document.
type Section struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	Items     []Related `json:"items,omitempty"`
	Truncated bool      `json:"truncated,omitempty"` // VirusTotal had more than vex fetched
}

// Related is one object in a relationship list.
type Related struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Name      string          `json:"name,omitempty"` // file name, host name or URL, when known
	Verdict   verdict.Verdict `json:"verdict"`
	Malicious int             `json:"malicious,omitempty"`
	Engines   int             `json:"engines,omitempty"`
	Date      time.Time       `json:"date,omitzero"` // resolution date, WHOIS date
}
