package api

import (
	"net/netip"
	"testing"
)

// FuzzThrottleAddr: the address a throttle counts a client under is read
// without panicking; every spelling of one IPv4 address (mapped into
// IPv6, with a zone) counts as that address, and every IPv6 address of
// one /64 counts as that /64 (a client cannot step around the limits by
// rewriting its address or moving within its own network).
func FuzzThrottleAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "::ffff:c000:201", "0:0:0:0:0:ffff:192.0.2.1", "2001:db8::1",
		"2001:db8:0:0:ffff::1%eth0", "fe80::1%25eth0", "::1", "not-an-ip", ""} {
		f.Add(s, uint64(0x0123456789abcdef))
	}
	f.Fuzz(func(t *testing.T, addr string, low uint64) {
		key := throttleAddr(addr)
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		ip = ip.WithZone("").Unmap()
		if again := throttleAddr(ip.String()); again != key {
			t.Fatalf("%q counts as %q, its plain form %q as %q", addr, key, ip, again)
		}
		if ip.Is4() {
			if m := netip.AddrFrom16(ip.As16()).String(); throttleAddr(m) != key {
				t.Fatalf("%q counts as %q, mapped %q as %q", addr, key, m, throttleAddr(m))
			}
			return
		}
		b := ip.As16()
		for i := 0; i < 8; i++ {
			b[8+i] = byte(low >> (8 * i))
		}
		if other := netip.AddrFrom16(b); !other.Is4In6() && throttleAddr(other.String()) != key {
			t.Fatalf("%q counts as %q, %q of its /64 as %q", addr, key, other, throttleAddr(other.String()))
		}
	})
}
