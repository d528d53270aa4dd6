package gateway

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/vex-ioc/vex/core/cache"
	"github.com/vex-ioc/vex/core/ioc"
)

// cacheMode is the cache.Key mode of gateway entries, so they never mix
// with the triage and investigate entries of a CLI sharing the SQLite file.
const cacheMode = "gateway"

// relationships lists the sub-paths the gateway serves per collection:
// the sections vex investigate requests, behaviour documents included.
var relationships = map[string]map[string]bool{
	"files": set("behaviour_summary", "behaviour_mitre_trees", "contacted_ips", "contacted_domains",
		"contacted_urls", "dropped_files", "execution_parents"),
	"ip_addresses": set("resolutions", "communicating_files", "downloaded_files"),
	"domains":      set("resolutions", "subdomains", "communicating_files", "historical_whois"),
	"urls":         set("downloaded_files", "contacted_domains"),
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// maxPageLimit is VirusTotal's largest relationship page.
const maxPageLimit = 40

// maxURLIDLen bounds a URL id, the base64url of a URL of up to 6 KiB.
const maxURLIDLen = 8192

var (
	hexID    = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	urlID    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	domainID = regexp.MustCompile(`^[a-z0-9_.-]{1,253}$`)
	cursorRe = regexp.MustCompile(`^[A-Za-z0-9_=+/.-]{1,512}$`)
)

// resource is one API object or relationship page that a request names,
// with its id in canonical form so equal requests share one cache entry.
type resource struct {
	collection string
	id         string
	sub        string     // relationship or behaviour document, empty for the object
	query      url.Values // limit and cursor of a relationship page
	path       string     // upstream path, escaped, starting with /
}

// cacheKey returns the key of the resource's cache entry and fetch lock.
func (r resource) cacheKey() cache.Key {
	v := r.id
	if r.sub != "" {
		v += "/" + r.sub
		if q := r.query.Encode(); q != "" {
			v += "?" + q
		}
	}
	return cache.Key{Mode: cacheMode, Type: r.collection, Value: v}
}

// parseResource reads the collection, id and optional relationship from
// the request path and checks each. The error is a client error to send.
func parseResource(req *http.Request) (resource, *apiError) {
	r := resource{collection: req.PathValue("collection"), sub: req.PathValue("sub")}
	rels, ok := relationships[r.collection]
	if !ok {
		return r, badRequest("collection %q is not served by the vex gateway: use files, ip_addresses, domains or urls", r.collection)
	}
	id, aerr := canonicalID(r.collection, req.PathValue("id"))
	if aerr != nil {
		return r, aerr
	}
	r.id = id
	r.path = "/" + r.collection + "/" + url.PathEscape(id)

	if r.sub == "" {
		return r, nil
	}
	if !rels[r.sub] {
		return r, badRequest("%s/%s is not served by the vex gateway", r.collection, r.sub)
	}
	r.path += "/" + r.sub
	if r.sub == "behaviour_summary" || r.sub == "behaviour_mitre_trees" {
		return r, nil
	}

	// Only the paging parameters vex sends are forwarded; they are part of
	// the cache key, anything else would split it for nothing.
	r.query = url.Values{}
	q := req.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return r, badRequest("invalid limit %q: want 1 to %d", v, maxPageLimit)
		}
		r.query.Set("limit", strconv.Itoa(n))
	}
	if v := q.Get("cursor"); v != "" {
		if !cursorRe.MatchString(v) {
			return r, badRequest("invalid cursor: want at most 512 base64 characters")
		}
		r.query.Set("cursor", v)
	}
	return r, nil
}

// canonicalID checks an id against its collection and returns the form
// VirusTotal treats as equal: lower-case hashes and domains, compressed
// IPv6.
func canonicalID(collection, id string) (string, *apiError) {
	switch collection {
	case "files":
		if !hexID.MatchString(id) || (len(id) != 32 && len(id) != 40 && len(id) != 64) {
			return "", badRequest("invalid file id %q: want an MD5, SHA-1 or SHA-256 hex digest", truncate(id))
		}
		return strings.ToLower(id), nil
	case "ip_addresses":
		a, err := netip.ParseAddr(id)
		if err != nil || a.Zone() != "" {
			return "", badRequest("invalid IP address %q", truncate(id))
		}
		return a.Unmap().String(), nil
	case "domains":
		d := strings.TrimSuffix(strings.ToLower(id), ".")
		if !domainID.MatchString(d) {
			return "", badRequest("invalid domain %q: send the punycode form", truncate(id))
		}
		return d, nil
	case "urls":
		if len(id) > maxURLIDLen || !urlID.MatchString(id) {
			return "", badRequest("invalid URL id %q: want the unpadded base64url of the URL or its SHA-256", truncate(id))
		}
		return id, nil
	}
	return "", badRequest("unknown collection %q", collection)
}

// nonRoutableAddr returns the address or URL in res that ioc.NonRoutable
// rejects, and whether there is one. It reads the id of an IP address and
// the host of a URL whose id is the base64url of the URL.
// NOTE: a URL id that is the SHA-256 of the URL cannot be decoded, so such
// a request is forwarded whatever its host is.
func nonRoutableAddr(res resource) (string, bool) {
	switch res.collection {
	case "ip_addresses":
		a, err := netip.ParseAddr(res.id)
		return res.id, err == nil && ioc.NonRoutable(a)
	case "urls":
		raw, err := base64.RawURLEncoding.DecodeString(res.id)
		if err != nil {
			return "", false
		}
		u, err := ioc.Parse(string(raw))
		if err != nil || u.Type != ioc.URL || !u.Has(ioc.FlagNonRoutable) {
			return "", false
		}
		return u.Value, true
	}
	return "", false
}

// truncate shortens a value quoted in an error body.
func truncate(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
