package ioc

import (
	"encoding/binary"
	"net/netip"
)

// nonRoutable lists the special-purpose ranges whose addresses mean nothing
// on the public internet (IANA IPv4 and IPv6 special-purpose registries,
// RFC 6890 and updates). Looking them up in VirusTotal spends quota and can
// leak internal addressing.
var nonRoutable = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", includes the unspecified address
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, includes the broadcast address
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b:1::/48",  // local-use IPv4/IPv6 translation
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments
		"2001:db8::/32",   // documentation
		"3fff::/20",       // documentation
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"fec0::/10",       // deprecated site-local
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// nonRoutable4 is the IPv4 part of nonRoutable as address and mask pairs,
// which NonRoutable tests without the generality of netip.Prefix.
var nonRoutable4 = func() (ranges []struct{ addr, mask uint32 }) {
	for _, p := range nonRoutable {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			mask := ^uint32(0) << (32 - p.Bits())
			ranges = append(ranges, struct{ addr, mask uint32 }{binary.BigEndian.Uint32(a[:]), mask})
		}
	}
	return ranges
}()

// NonRoutable reports whether a is a private, loopback, link-local, CGNAT,
// multicast, documentation, unspecified or otherwise reserved address.
// IPv4-mapped IPv6 addresses are judged as IPv4.
func NonRoutable(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		for _, r := range nonRoutable4 {
			if x&r.mask == r.addr {
				return true
			}
		}
		return false
	}
	a = a.WithZone("")
	for _, p := range nonRoutable {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
