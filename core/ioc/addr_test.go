package ioc

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// nonRoutableByPrefix is NonRoutable with netip.Prefix.Contains only, the
// reference for the address and mask test of IPv4.
func nonRoutableByPrefix(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range nonRoutable {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func TestNonRoutableMatchesPrefixes(t *testing.T) {
	from4 := func(x uint32) netip.Addr {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], x)
		return netip.AddrFrom4(b)
	}
	var addrs []netip.Addr
	// The first and last address of each range and their neighbours.
	for _, p := range nonRoutable {
		if !p.Addr().Is4() {
			continue
		}
		b := p.Addr().As4()
		first := binary.BigEndian.Uint32(b[:])
		last := first | ^(^uint32(0) << (32 - p.Bits()))
		for _, x := range []uint32{first - 1, first, first + 1, last - 1, last, last + 1} {
			addrs = append(addrs, from4(x))
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 100_000 {
		addrs = append(addrs, from4(r.Uint32()))
	}

	for _, a := range addrs {
		mapped := netip.AddrFrom16(a.As16())
		for _, x := range []netip.Addr{a, mapped} {
			if got, want := NonRoutable(x), nonRoutableByPrefix(x); got != want {
				t.Errorf("NonRoutable(%s) = %v, want %v", x, got, want)
			}
		}
	}
}
