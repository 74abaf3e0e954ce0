// Package supernet computes a supernet's CIDR: the smallest prefix that
// covers all of its member networks.
//
// resources uses it for the /resource/supernet:<name> entries of
// docs/architecture.md, §3. Who owns which key.
package supernet

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrMixedFamilies is returned for members of both IPv4 and IPv6: no one
// prefix covers them.
var ErrMixedFamilies = errors.New("members mix IPv4 and IPv6")

// Cover returns the smallest prefix containing every one of members. It
// fails for no members, an invalid prefix, or members of both families.
// IPv4-mapped IPv6 prefixes count as IPv6, as the address bytes say.
func Cover(members []netip.Prefix) (netip.Prefix, error) {
	if len(members) == 0 {
		return netip.Prefix{}, errors.New("no members")
	}
	var cover netip.Prefix
	for i, m := range members {
		if !m.IsValid() {
			return netip.Prefix{}, fmt.Errorf("member %d: invalid prefix", i)
		}
		m = m.Masked()
		if i == 0 {
			cover = m
			continue
		}
		if m.Addr().Is4() != cover.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("%w: %s and %s", ErrMixedFamilies, cover, m)
		}
		bits := min(cover.Bits(), m.Bits(), commonBits(cover.Addr(), m.Addr()))
		cover = netip.PrefixFrom(cover.Addr(), bits).Masked()
	}
	return cover, nil
}

// commonBits is the length of the longest common leading bit string of two
// addresses of one family.
func commonBits(a, b netip.Addr) int {
	x, y := a.AsSlice(), b.AsSlice()
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			n := 0
			for d&0x80 == 0 {
				d <<= 1
				n++
			}
			return i*8 + n
		}
	}
	return len(x) * 8
}
