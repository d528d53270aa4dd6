package enrich

import (
	"sort"
	"time"

	"github.com/vex-ioc/vex/core/vt"
)

// Caps on list lengths in Details, so a sample with thousands of names or
// a noisy sandbox cannot flood a report. JSON consumers needing everything
// can read the cache's raw VirusTotal JSON.
const (
	maxDetailNames = 20
	maxBehaviour   = 25
)

// Details are the type-specific facts investigate shows beyond the triage
// summary. Every field is optional.
type Details struct {
	// Files.
	Names     []string   `json:"names,omitempty"`
	Magic     string     `json:"magic,omitempty"`
	SSDeep    string     `json:"ssdeep,omitempty"`
	TLSH      string     `json:"tlsh,omitempty"`
	MD5       string     `json:"md5,omitempty"`
	SHA1      string     `json:"sha1,omitempty"`
	SHA256    string     `json:"sha256,omitempty"`
	PE        *PEInfo    `json:"pe,omitempty"`
	Signature *Signature `json:"signature,omitempty"`
	YARA      []RuleHit  `json:"yara,omitempty"`
	Sigma     []RuleHit  `json:"sigma,omitempty"`
	Sandboxes []Sandbox  `json:"sandboxes,omitempty"`
	Behaviour *Behaviour `json:"behaviour,omitempty"`
	// IP addresses and domains.
	WhoisDate  time.Time   `json:"whois_date,omitzero"`
	DNSRecords []DNSRecord `json:"dns_records,omitempty"`
	JARM       string      `json:"jarm,omitempty"`
	// URLs.
	LastHTTPCode int64 `json:"last_http_response_code,omitempty"`
}

// PEInfo holds the facts of a Windows executable's headers.
type PEInfo struct {
	Imphash     string    `json:"imphash,omitempty"`
	CompileTime time.Time `json:"compile_time,omitzero"`
	EntryPoint  int64     `json:"entry_point,omitempty"`
	Sections    int       `json:"sections,omitempty"`
	Imports     int       `json:"imported_libraries,omitempty"`
}

// Signature is the Authenticode information VirusTotal reports.
type Signature struct {
	Verified    string `json:"verified,omitempty"`
	Signers     string `json:"signers,omitempty"`
	Product     string `json:"product,omitempty"`
	SigningDate string `json:"signing_date,omitempty"`
}

// RuleHit is one YARA or Sigma rule that matched.
type RuleHit struct {
	Rule   string `json:"rule"`
	Source string `json:"source,omitempty"` // ruleset or author organisation
	Level  string `json:"level,omitempty"`  // Sigma severity
}

// Sandbox is one sandbox's verdict.
type Sandbox struct {
	Name     string   `json:"name"`
	Category string   `json:"category"`
	Malware  []string `json:"malware,omitempty"`
}

// Behaviour summarises a sandbox behaviour report.
type Behaviour struct {
	ProcessesCreated []string `json:"processes_created,omitempty"`
	CommandLines     []string `json:"command_executions,omitempty"`
	FilesDropped     []string `json:"files_dropped,omitempty"`
	DNSLookups       []string `json:"dns_lookups,omitempty"`
	IPTraffic        []string `json:"ip_traffic,omitempty"`
	MutexesCreated   []string `json:"mutexes_created,omitempty"`
	RegistryKeysSet  []string `json:"registry_keys_set,omitempty"`
	Verdicts         []string `json:"verdicts,omitempty"`
}

// DNSRecord is one record of a domain's last DNS answer.
type DNSRecord struct {
	Type  string `json:"type"`
	Value string `json:"value"`
	TTL   int64  `json:"ttl,omitempty"`
}

// DetailsOf reads the investigate details from an object's attributes.
func DetailsOf(o *vt.Object) Details {
	a := o.Attributes
	d := Details{
		Names:        capList(a.Strings("names"), maxDetailNames),
		Magic:        a.String("magic"),
		SSDeep:       a.String("ssdeep"),
		TLSH:         a.String("tlsh"),
		MD5:          a.String("md5"),
		SHA1:         a.String("sha1"),
		SHA256:       a.String("sha256"),
		WhoisDate:    a.Time("whois_date"),
		JARM:         a.String("jarm"),
		LastHTTPCode: a.Int64("last_http_response_code"),
	}
	if pe := a.Map("pe_info"); len(pe) > 0 {
		d.PE = &PEInfo{
			Imphash:     pe.String("imphash"),
			CompileTime: pe.Time("timestamp"),
			EntryPoint:  pe.Int64("entry_point"),
			Sections:    len(pe.Slice("sections")),
			Imports:     len(pe.Slice("import_list")),
		}
	}
	if sig := a.Map("signature_info"); len(sig) > 0 {
		d.Signature = &Signature{
			Verified:    sig.String("verified"),
			Signers:     sig.String("signers"),
			Product:     sig.String("product"),
			SigningDate: sig.String("signing date"),
		}
	}
	for _, item := range a.Slice("crowdsourced_yara_results") {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		y := vt.Attributes(m)
		if rule := y.String("rule_name"); rule != "" {
			d.YARA = append(d.YARA, RuleHit{Rule: rule, Source: firstNonEmpty(y.String("ruleset_name"), y.String("source"))})
		}
	}
	for _, item := range a.Slice("sigma_analysis_results") {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		s := vt.Attributes(m)
		if title := s.String("rule_title"); title != "" {
			d.Sigma = append(d.Sigma, RuleHit{Rule: title, Source: s.String("rule_source"), Level: s.String("rule_level")})
		}
	}
	sandboxes := a.Map("sandbox_verdicts")
	for _, name := range sortedKeys(sandboxes) {
		sb := sandboxes.Map(name)
		d.Sandboxes = append(d.Sandboxes, Sandbox{
			Name:     firstNonEmpty(sb.String("sandbox_name"), name),
			Category: sb.String("category"),
			Malware:  sb.Strings("malware_names"),
		})
	}
	for _, item := range a.Slice("last_dns_records") {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		rec := vt.Attributes(m)
		d.DNSRecords = append(d.DNSRecords, DNSRecord{Type: rec.String("type"), Value: rec.String("value"), TTL: rec.Int64("ttl")})
	}
	return d
}

// behaviourOf reads a behaviour_summary document.
func behaviourOf(a vt.Attributes) *Behaviour {
	b := &Behaviour{
		ProcessesCreated: capList(a.Strings("processes_created"), maxBehaviour),
		CommandLines:     capList(a.Strings("command_executions"), maxBehaviour),
		FilesDropped:     capList(droppedPaths(a.Slice("files_dropped")), maxBehaviour),
		MutexesCreated:   capList(a.Strings("mutexes_created"), maxBehaviour),
		Verdicts:         a.Strings("verdicts"),
	}
	for _, item := range a.Slice("dns_lookups") {
		if m, ok := item.(map[string]any); ok {
			if h := vt.Attributes(m).String("hostname"); h != "" {
				b.DNSLookups = append(b.DNSLookups, h)
			}
		}
	}
	for _, item := range a.Slice("ip_traffic") {
		if m, ok := item.(map[string]any); ok {
			t := vt.Attributes(m)
			if ip := t.String("destination_ip"); ip != "" {
				b.IPTraffic = append(b.IPTraffic, ip+portSuffix(t.Int64("destination_port")))
			}
		}
	}
	for _, item := range a.Slice("registry_keys_set") {
		if m, ok := item.(map[string]any); ok {
			if k := vt.Attributes(m).String("key"); k != "" {
				b.RegistryKeysSet = append(b.RegistryKeysSet, k)
			}
		}
	}
	b.DNSLookups = capList(b.DNSLookups, maxBehaviour)
	b.IPTraffic = capList(b.IPTraffic, maxBehaviour)
	b.RegistryKeysSet = capList(b.RegistryKeysSet, maxBehaviour)
	return b
}

func droppedPaths(items []any) []string {
	var out []string
	for _, item := range items {
		switch v := item.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			if p := vt.Attributes(v).String("path"); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func portSuffix(p int64) string {
	if p <= 0 {
		return ""
	}
	return ":" + itoa(p)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

func capList(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
