package stix

import (
	"time"
)

// SpecVersion is the STIX version of every object written.
const SpecVersion = "2.1"

// Timestamp is a STIX timestamp: UTC with exactly three fractional digits,
// e.g. 2024-05-01T10:00:00.000Z.
type Timestamp time.Time

// MarshalJSON writes the millisecond UTC form STIX producers use.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

func ts(t time.Time) Timestamp { return Timestamp(t.UTC().Truncate(time.Millisecond)) }

// Object is any STIX object in a bundle.
type Object interface {
	// ObjectID returns the object's STIX id, e.g. "indicator--<uuid>".
	ObjectID() string
}

// Bundle is a STIX 2.1 bundle.
type Bundle struct {
	Type    string   `json:"type"` // always "bundle"
	ID      string   `json:"id"`
	Objects []Object `json:"objects"`
}

// Common holds the properties shared by domain and relationship objects.
type Common struct {
	Type              string    `json:"type"`
	SpecVersion       string    `json:"spec_version"`
	ID                string    `json:"id"`
	CreatedByRef      string    `json:"created_by_ref,omitempty"`
	Created           Timestamp `json:"created"`
	Modified          Timestamp `json:"modified"`
	ObjectMarkingRefs []string  `json:"object_marking_refs,omitempty"`
}

// ObjectID returns the object's id.
func (c Common) ObjectID() string { return c.ID }

// ExternalReference points to a source outside the bundle.
type ExternalReference struct {
	SourceName string `json:"source_name"`
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

// KillChainPhase places an attack pattern in a kill chain.
type KillChainPhase struct {
	KillChainName string `json:"kill_chain_name"`
	PhaseName     string `json:"phase_name"`
}

// Identity is the producer of the bundle.
type Identity struct {
	Common
	Name          string `json:"name"`
	IdentityClass string `json:"identity_class,omitempty"`
}

// Indicator is a detection pattern for one IOC.
type Indicator struct {
	Common
	Name               string              `json:"name,omitempty"`
	Description        string              `json:"description,omitempty"`
	IndicatorTypes     []string            `json:"indicator_types,omitempty"`
	Pattern            string              `json:"pattern"`
	PatternType        string              `json:"pattern_type"`
	PatternVersion     string              `json:"pattern_version,omitempty"`
	ValidFrom          Timestamp           `json:"valid_from"`
	Labels             []string            `json:"labels,omitempty"`
	ExternalReferences []ExternalReference `json:"external_references,omitempty"`
}

// ObservedData records that the observables in ObjectRefs were seen.
type ObservedData struct {
	Common
	FirstObserved  Timestamp `json:"first_observed"`
	LastObserved   Timestamp `json:"last_observed"`
	NumberObserved int64     `json:"number_observed"`
	ObjectRefs     []string  `json:"object_refs"`
}

// Malware is a malware family.
type Malware struct {
	Common
	Name       string   `json:"name"`
	IsFamily   bool     `json:"is_family"`
	SampleRefs []string `json:"sample_refs,omitempty"`
}

// AttackPattern is an ATT&CK technique.
type AttackPattern struct {
	Common
	Name               string              `json:"name"`
	ExternalReferences []ExternalReference `json:"external_references,omitempty"`
	KillChainPhases    []KillChainPhase    `json:"kill_chain_phases,omitempty"`
}

// Relationship links two objects.
type Relationship struct {
	Common
	RelationshipType string `json:"relationship_type"`
	Description      string `json:"description,omitempty"`
	SourceRef        string `json:"source_ref"`
	TargetRef        string `json:"target_ref"`
	// Confidence is the STIX confidence from 1 to 100. Zero leaves it out,
	// which STIX reads as unspecified.
	Confidence int `json:"confidence,omitempty"`
}

// Note is an analyst's note about other objects.
type Note struct {
	Common
	Content    string   `json:"content"`
	ObjectRefs []string `json:"object_refs"`
}

// Observable is a cyber-observable object: file, ipv4-addr, ipv6-addr,
// domain-name or url.
type Observable struct {
	Type              string            `json:"type"`
	SpecVersion       string            `json:"spec_version"`
	ID                string            `json:"id"`
	Value             string            `json:"value,omitempty"`
	Hashes            map[string]string `json:"hashes,omitempty"`
	Name              string            `json:"name,omitempty"`
	Size              int64             `json:"size,omitempty"`
	ObjectMarkingRefs []string          `json:"object_marking_refs,omitempty"`
}

// ObjectID returns the observable's id.
func (o *Observable) ObjectID() string { return o.ID }

// MarkingDefinition is a TLP 2.0 marking.
type MarkingDefinition struct {
	Type        string                    `json:"type"`
	SpecVersion string                    `json:"spec_version"`
	ID          string                    `json:"id"`
	Created     string                    `json:"created"`
	Name        string                    `json:"name"`
	Extensions  map[string]map[string]any `json:"extensions"`
}

// ObjectID returns the marking's id.
func (m *MarkingDefinition) ObjectID() string { return m.ID }
