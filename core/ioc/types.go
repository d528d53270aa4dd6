// Package ioc detects, normalises, refangs, defangs and extracts indicators of
// compromise: file hashes, IPv4 and IPv6 addresses, domains and URLs.
package ioc

import "fmt"

// Type is the kind of an indicator. The zero value means "not an IOC".
type Type string

// The indicator types vex knows. Any other input is invalid.
const (
	MD5    Type = "md5"
	SHA1   Type = "sha1"
	SHA256 Type = "sha256"
	IPv4   Type = "ipv4"
	IPv6   Type = "ipv6"
	Domain Type = "domain"
	URL    Type = "url"
)

// Types lists every indicator type in a stable order.
var Types = []Type{MD5, SHA1, SHA256, IPv4, IPv6, Domain, URL}

// IsHash reports whether t is one of the file hash types.
func (t Type) IsHash() bool { return t == MD5 || t == SHA1 || t == SHA256 }

// Flag marks a property of a valid indicator that changes how vex treats it.
type Flag string

const (
	// FlagNonRoutable marks private, loopback, link-local, CGNAT, multicast
	// and documentation addresses. They are not sent to VirusTotal unless
	// the configuration allows it.
	FlagNonRoutable Flag = "non_routable"
	// FlagEmptyFile marks the md5, sha1 or sha256 of zero bytes of input.
	FlagEmptyFile Flag = "empty_file"
)

// IOC is one valid indicator.
type IOC struct {
	// Input is the text as found or given, before refanging and trimming.
	Input string `json:"ioc"`
	// Type is the detected type.
	Type Type `json:"type"`
	// Value is the normalised form: the key for caches, the knowledge base
	// and VirusTotal lookups.
	Value string `json:"normalized"`
	// Flags are set properties, sorted, nil when there are none.
	Flags []Flag `json:"flags,omitempty"`
}

// Has reports whether the indicator carries flag f.
func (i IOC) Has(f Flag) bool {
	for _, g := range i.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// InvalidError reports why an input is not a valid indicator.
type InvalidError struct {
	Input  string // the text as given
	Reason string // a short lower-case reason, e.g. "leading zeros are ambiguous"
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid ioc %q: %s", e.Input, e.Reason)
}
