package ioc

import (
	"encoding/base64"
	"net/url"
)

// URLID returns the VirusTotal identifier of a URL: the unpadded base64url
// encoding of the URL text. Pass the normalised URL (IOC.Value) so every
// spelling of one URL shares one id.
func URLID(normalizedURL string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(normalizedURL))
}

// VTPath returns the VirusTotal API v3 object path of the indicator,
// relative to the API base URL: /files/{hash}, /ip_addresses/{ip},
// /domains/{domain} or /urls/{URLID}, with the last segment path-escaped.
// It returns "" for the zero IOC.
func (i IOC) VTPath() string {
	var collection, id string
	switch i.Type {
	case MD5, SHA1, SHA256:
		collection, id = "files", i.Value
	case IPv4, IPv6:
		collection, id = "ip_addresses", i.Value
	case Domain:
		collection, id = "domains", i.Value
	case URL:
		collection, id = "urls", URLID(i.Value)
	default:
		return ""
	}
	return "/" + collection + "/" + url.PathEscape(id)
}
