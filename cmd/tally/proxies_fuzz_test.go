package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"tally/api"
)

// FuzzTrustedProxies: the trusted-proxies setting is read three ways —
// validate (net.ParseIP/ParseCIDR) judges it at start, api.ParsePrefixes
// gives the connection limiter its exempt prefixes, gin's
// SetTrustedProxies reads X-Forwarded-For by it. A setting validate
// accepts must be accepted by the other two (Run would otherwise fail
// after validate said it was fine), and the limiter must exempt each
// proxy named: the address of every entry lies in one of the prefixes
// (compared as the limiter compares, unmapped).
func FuzzTrustedProxies(f *testing.F) {
	if os.Getenv("TALLY_ORIGIN") != "" {
		f.Skip("TALLY_ORIGIN is set: validate would judge it too")
	}
	for _, s := range []string{"", "10.0.0.1", "10.0.0.0/8, 192.168.1.1", "::1", "2001:db8::/32", "fe80::1%eth0",
		"10.0.0.0/33", "1.2.3.4/24", "::ffff:10.0.0.1", "not-an-ip", ",,", "0.0.0.0/0"} {
		f.Add(s)
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "master.key"), make([]byte, 32), 0o600); err != nil {
		f.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, proxies string) {
		m := &Main{Data: dir, Addr: "127.0.0.1:0", TrustedProxies: proxies}
		if m.validate() != nil {
			return
		}
		list := splitList(proxies)
		prefixes, err := api.ParsePrefixes(list)
		if err != nil {
			t.Fatalf("validate accepts %q, ParsePrefixes refuses it: %v", proxies, err)
		}
		if err := gin.New().SetTrustedProxies(list); err != nil {
			t.Fatalf("validate accepts %q, gin refuses it: %v", proxies, err)
		}
		for _, p := range list {
			ip := net.ParseIP(p)
			if ip == nil {
				_, n, _ := net.ParseCIDR(p)
				ip = n.IP
			}
			addr, ok := netip.AddrFromSlice(ip)
			if !ok {
				t.Fatalf("%q: no address", p)
			}
			addr = addr.Unmap()
			in := false
			for _, pre := range prefixes {
				in = in || pre.Contains(addr)
			}
			if !in {
				t.Fatalf("trusted proxy %q (%v) lies in none of the limiter's prefixes %v", p, addr, prefixes)
			}
		}
	})
}
