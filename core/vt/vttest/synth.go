package vttest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// engineNames are invented antivirus engine names for synthesised analyses.
var engineNames = []string{
	"Acrux", "Aldebaran", "Altair", "Antares", "Arcturus", "Bellatrix", "Betelgeuse", "Canopus",
	"Capella", "Castor", "Deneb", "Diphda", "Elnath", "Enif", "Fomalhaut", "Gacrux",
	"Hadar", "Hamal", "Izar", "Kochab", "Markab", "Menkar", "Mimosa", "Mirfak",
	"Mizar", "Nunki", "Peacock", "Polaris", "Pollux", "Procyon", "Rasalhague", "Regulus",
	"Rigel", "Sabik", "Sadr", "Saiph", "Schedar", "Shaula", "Sirius", "Spica",
	"Suhail", "Tarazed", "Thuban", "Unukalhai", "Vega", "Wezen", "Zaurak", "Zosma",
	"Alcor", "Alhena", "Alioth", "Alkaid", "Almach", "Alnair", "Alnilam", "Alnitak",
	"Alphard", "Alpheratz", "Ankaa", "Atria", "Avior", "Caph", "Dubhe", "Eltanin",
	"Merak", "Mintaka", "Naos", "Phecda", "Sargas", "Tiaki",
}

var (
	hexID    = regexp.MustCompile(`^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$`)
	domainID = regexp.MustCompile(`^(?i)[a-z0-9_]([a-z0-9_-]{0,62}\.)+[a-z][a-z0-9-]{1,62}\.?$`)
)

// synthVerdict is the verdict class a synthesised object falls into.
type synthVerdict int

const (
	synthClean synthVerdict = iota
	synthMalicious
	synthSuspicious
	synthUnknown
)

// rng returns a generator seeded by Options.Seed and the object, so each
// object looks the same on every run and request.
func (s *Server) rng(parts ...string) *rand.Rand {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return rand.New(rand.NewPCG(uint64(s.opts.Seed), binary.BigEndian.Uint64(h[:8])))
}

// verdictOf spreads synthesised objects over verdicts: about 12% malicious,
// 12% suspicious, 10% too few engines, the rest clean.
func verdictOf(r *rand.Rand) synthVerdict {
	switch n := r.IntN(100); {
	case n < 12:
		return synthMalicious
	case n < 24:
		return synthSuspicious
	case n < 34:
		return synthUnknown
	}
	return synthClean
}

// synthObject returns {"data": object} for an id that no fixture has. It
// rejects ids VirusTotal would not accept for the collection.
func (s *Server) synthObject(coll, id string) ([]byte, error) {
	r := s.rng("object", coll, strings.ToLower(id))
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(700*24)) * time.Hour)
	attrs := map[string]any{
		"reputation":  0,
		"total_votes": map[string]int{"harmless": r.IntN(3), "malicious": 0},
		"tags":        []string{},
	}
	var objType, objID string
	isFile := false

	switch coll {
	case "files":
		if !hexID.MatchString(id) {
			return nil, fmt.Errorf("invalid file hash %q: want 32, 40 or 64 hex characters", id)
		}
		objType, isFile = "file", true
		objID = synthFile(r, strings.ToLower(id), attrs, base)
	case "ip_addresses":
		addr, err := netip.ParseAddr(id)
		if err != nil {
			return nil, fmt.Errorf("invalid IP address %q", id)
		}
		objType, objID = "ip_address", addr.String()
		synthIP(r, addr, attrs)
	case "domains":
		if len(id) > 253 || !domainID.MatchString(id) {
			return nil, fmt.Errorf("invalid domain %q", id)
		}
		objType, objID = "domain", strings.ToLower(strings.TrimSuffix(id, "."))
		synthDomain(r, attrs, base)
	case "urls":
		u, err := urlFromID(id)
		if err != nil {
			return nil, err
		}
		objType = "url"
		objID = strings.ToLower(id)
		if u != "" {
			sum := sha256.Sum256([]byte(u))
			objID = hex.EncodeToString(sum[:])
			attrs["url"] = u
			attrs["last_final_url"] = u
		}
		attrs["title"] = []string{"Welcome", "Sign in", "Index of /", "Home", ""}[r.IntN(5)]
		attrs["last_http_response_code"] = []int{200, 200, 200, 301, 404}[r.IntN(5)]
		attrs["first_submission_date"] = base.Unix()
		attrs["times_submitted"] = 1 + r.IntN(20)
	default:
		return nil, errors.New("unknown collection " + coll)
	}

	v := verdictOf(r)
	stats, results := synthAnalysis(r, v, isFile)
	attrs["last_analysis_stats"] = stats
	attrs["last_analysis_results"] = results
	attrs["last_analysis_date"] = base.Add(time.Duration(r.IntN(90*24)) * time.Hour).Unix()
	if v == synthMalicious {
		attrs["reputation"] = -(5 + r.IntN(80))
		attrs["total_votes"] = map[string]int{"harmless": 0, "malicious": 1 + r.IntN(8)}
		if isFile {
			label := []string{"trojan.agent/generic", "ransom.locker/crypt", "downloader.nemu/script", "backdoor.rat/msil"}[r.IntN(4)]
			attrs["popular_threat_classification"] = map[string]any{"suggested_threat_label": label}
		}
	}
	return jsonMarshal(map[string]any{"data": map[string]any{
		"type": objType, "id": objID, "attributes": attrs,
		"links": map[string]string{"self": "https://www.virustotal.com" + APIPrefix + "/" + coll + "/" + objID},
	}})
}

// synthFile fills file attributes and returns the object id (its sha256).
// Hashes other than the requested one are random but stable per id.
func synthFile(r *rand.Rand, id string, attrs map[string]any, base time.Time) string {
	// A fixed order keeps the random stream, and so the object, stable.
	hashes := []struct {
		name string
		n    int
	}{{"md5", 32}, {"sha1", 40}, {"sha256", 64}}
	for _, hash := range hashes {
		name, n := hash.name, hash.n
		if len(id) == n {
			attrs[name] = id
			continue
		}
		b := make([]byte, n/2)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		attrs[name] = hex.EncodeToString(b)
	}
	kinds := []struct{ desc, ext string }{
		{"Win32 EXE", "exe"}, {"Win32 DLL", "dll"}, {"PDF", "pdf"}, {"ZIP", "zip"},
		{"Office Open XML Document", "docx"}, {"ELF", "elf"}, {"JavaScript", "js"},
	}
	k := kinds[r.IntN(len(kinds))]
	name := fmt.Sprintf("%s_%04d.%s", []string{"invoice", "setup", "report", "update", "scan"}[r.IntN(5)], r.IntN(10000), k.ext)
	attrs["type_description"] = k.desc
	attrs["type_extension"] = k.ext
	attrs["meaningful_name"] = name
	attrs["names"] = []string{name}
	attrs["size"] = 1024 + r.IntN(4<<20)
	attrs["times_submitted"] = 1 + r.IntN(50)
	attrs["first_submission_date"] = base.Unix()
	attrs["last_submission_date"] = base.Add(time.Duration(r.IntN(60*24)) * time.Hour).Unix()
	attrs["tags"] = []string{k.ext}
	return attrs["sha256"].(string)
}

func synthIP(r *rand.Rand, addr netip.Addr, attrs map[string]any) {
	owners := []string{"Example Hosting Ltd", "Northwind Networks", "Contoso Cloud", "Fabrikam Telecom", "Tailspin Broadband"}
	countries := []string{"US", "DE", "NL", "FR", "SG", "BR", "GB", "JP"}
	attrs["as_owner"] = owners[r.IntN(len(owners))]
	attrs["asn"] = 64512 + r.IntN(1000)
	attrs["country"] = countries[r.IntN(len(countries))]
	bits := 24
	if addr.Is6() {
		bits = 48
	}
	if p, err := addr.Prefix(bits); err == nil {
		attrs["network"] = p.String()
	}
}

func synthDomain(r *rand.Rand, attrs map[string]any, base time.Time) {
	registrars := []string{"Example Registrar, Inc.", "NameSilo-like Registry LLC", "Northwind Domains", "Contoso Names"}
	cats := []string{"business", "information technology", "parked", "shopping", "news", "phishing"}
	attrs["registrar"] = registrars[r.IntN(len(registrars))]
	attrs["creation_date"] = base.AddDate(-1-r.IntN(10), 0, 0).Unix()
	attrs["categories"] = map[string]string{
		engineNames[r.IntN(10)]:    cats[r.IntN(len(cats))],
		engineNames[10+r.IntN(10)]: cats[r.IntN(len(cats))],
	}
}

// synthAnalysis returns last_analysis_stats and last_analysis_results
// consistent with each other for verdict class v.
func synthAnalysis(r *rand.Rand, v synthVerdict, isFile bool) (map[string]int, map[string]any) {
	total := 55 + r.IntN(len(engineNames)-55+1)
	var mal, sus int
	switch v {
	case synthMalicious:
		mal = 3 + r.IntN(total/2)
		sus = r.IntN(3)
	case synthSuspicious:
		mal = r.IntN(3)
		if mal == 0 {
			sus = 1 + r.IntN(2)
		}
	case synthUnknown:
		total = 2 + r.IntN(7)
	}
	unsupported := 0
	if isFile && v != synthUnknown {
		unsupported = r.IntN(8)
	}
	harmless := 0
	if !isFile {
		harmless = (total - mal - sus) * 7 / 10
	}
	undetected := total - mal - sus - harmless - unsupported

	names := append([]string(nil), engineNames...)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	results := map[string]any{}
	cats := make([]string, 0, total)
	for range mal {
		cats = append(cats, "malicious")
	}
	for range sus {
		cats = append(cats, "suspicious")
	}
	for range harmless {
		cats = append(cats, "harmless")
	}
	for range unsupported {
		cats = append(cats, "type-unsupported")
	}
	for range undetected {
		cats = append(cats, "undetected")
	}
	labels := []string{"Trojan.GenericKD", "Malware.AI.Heur", "W32.Agent.Susp", "Phishing.Site", "Riskware.Generic"}
	for i, cat := range cats {
		res := map[string]any{"category": cat, "engine_name": names[i], "method": "blacklist", "result": nil}
		switch cat {
		case "malicious", "suspicious":
			res["result"] = labels[r.IntN(len(labels))]
		case "harmless":
			res["result"] = "clean"
		case "undetected":
			res["result"] = "unrated"
		}
		results[names[i]] = res
	}
	stats := map[string]int{
		"malicious": mal, "suspicious": sus, "undetected": undetected, "harmless": harmless,
		"timeout": 0, "type-unsupported": unsupported, "failure": 0, "confirmed-timeout": 0,
	}
	return stats, results
}

// urlFromID decodes a base64url URL id. A 64-hex id (the SHA-256 of the
// URL) is valid but carries no URL, so it gives "".
func urlFromID(id string) (string, error) {
	if len(id) == 64 && hexID.MatchString(id) {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return "", fmt.Errorf("Invalid URL identifier %q", id)
	}
	u := string(raw)
	for _, scheme := range []string{"http://", "https://", "ftp://"} {
		if strings.HasPrefix(strings.ToLower(u), scheme) {
			return u, nil
		}
	}
	return "", fmt.Errorf("Invalid URL identifier %q", id)
}

// synthBehaviourSummary returns a small sandbox summary for a file.
func (s *Server) synthBehaviourSummary(id string) []byte {
	r := s.rng("behaviour", strings.ToLower(id))
	techniques := []struct{ id, desc string }{
		{"T1059", "Executes a command interpreter"},
		{"T1082", "Queries system information"},
		{"T1547.001", "Adds a Run key for persistence"},
		{"T1071.001", "Talks HTTP to a remote host"},
		{"T1497", "Checks for a virtual machine"},
	}
	var mitre []map[string]string
	for _, t := range techniques {
		if r.IntN(2) == 0 {
			mitre = append(mitre, map[string]string{"id": t.id, "signature_description": t.desc, "severity": "IMPACT_SEVERITY_MEDIUM"})
		}
	}
	b, _ := jsonMarshal(map[string]any{"data": map[string]any{
		"verdicts":                []string{"MALWARE"},
		"tags":                    []string{"DETECT_DEBUG_ENVIRONMENT"},
		"dns_lookups":             []map[string]any{{"hostname": fmt.Sprintf("c2-%d.example.net", r.IntN(100))}},
		"processes_created":       []string{`C:\Windows\System32\cmd.exe /c whoami`},
		"mitre_attack_techniques": mitre,
	}})
	return b
}

// synthRelationship returns a short, stable list for a relationship of an
// object that no fixture covers.
func (s *Server) synthRelationship(coll, id, rel string) []byte {
	r := s.rng("relationship", coll, strings.ToLower(id), rel)
	n := r.IntN(4)
	var items []map[string]any
	for i := range n {
		var item map[string]any
		ip := fmt.Sprintf("198.51.100.%d", 1+r.IntN(254))
		host := fmt.Sprintf("host%d.example.org", r.IntN(1000))
		switch {
		case rel == "resolutions":
			if coll == "domains" {
				host = id
			} else if coll == "ip_addresses" {
				ip = id
			}
			item = map[string]any{"type": "resolution", "id": ip + host, "attributes": map[string]any{
				"ip_address": ip, "host_name": host, "resolver": "VirusTotal",
				"date": time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC).Unix(),
			}}
		case strings.HasSuffix(rel, "_files"), rel == "execution_parents":
			sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%s/%d", coll, id, rel, i))
			item = map[string]any{"type": "file", "id": hex.EncodeToString(sum[:])}
		case strings.HasSuffix(rel, "_ips"):
			item = map[string]any{"type": "ip_address", "id": ip}
		case strings.HasSuffix(rel, "_domains"), rel == "subdomains":
			item = map[string]any{"type": "domain", "id": host}
		case strings.HasSuffix(rel, "_urls"):
			sum := sha256.Sum256([]byte("http://" + host + "/"))
			item = map[string]any{"type": "url", "id": hex.EncodeToString(sum[:]),
				"context_attributes": map[string]any{"url": "http://" + host + "/"}}
		default:
			continue
		}
		items = append(items, item)
	}
	if items == nil {
		items = []map[string]any{}
	}
	b, _ := jsonMarshal(map[string]any{
		"data":  items,
		"meta":  map[string]any{"count": len(items)},
		"links": map[string]string{"self": "https://www.virustotal.com" + APIPrefix + "/" + coll + "/" + id + "/" + rel},
	})
	return b
}
