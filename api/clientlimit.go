package api

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"tally/ledger"
)

// ClientShareOfConnections: one client (an address, or an IPv6 /64)
// holds at most 1/ClientShareOfConnections of the connections the server
// takes at once, and never fewer than MinConnectionsPerClient, so that one
// client's idle keep-alives cannot take every slot while the others wait
// in the listen queue (probe s24e).
const (
	ClientShareOfConnections = 4
	MinConnectionsPerClient  = 64
	// refusedWriteTimeout bounds the write of the refusal to a client
	// over its share.
	refusedWriteTimeout = time.Second
)

// ConnectionsPerClient is the share of maxConns one client may hold.
func ConnectionsPerClient(maxConns int) int {
	return max(maxConns/ClientShareOfConnections, min(maxConns, MinConnectionsPerClient))
}

// ClientLimitListener wraps a listener so that a client (by the
// connection's address: a trusted proxy, in exempt, speaks for many and
// is not limited) holds at most perClient connections at once; one more
// is answered 503 unavailable and closed.
func ClientLimitListener(ln net.Listener, perClient int, exempt []netip.Prefix) net.Listener {
	return &clientLimitListener{Listener: ln, perClient: perClient, exempt: exempt, open: map[string]int{}}
}

type clientLimitListener struct {
	net.Listener
	perClient int
	exempt    []netip.Prefix
	mu        sync.Mutex
	open      map[string]int
}

func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, limited := l.client(c.RemoteAddr())
		if !limited {
			return c, nil
		}
		l.mu.Lock()
		over := l.open[client] >= l.perClient
		if !over {
			l.open[client]++
		}
		l.mu.Unlock()
		if !over {
			return &clientConn{Conn: c, release: func() { l.release(client) }}, nil
		}
		go refuse(c)
	}
}

// client is the key a connection counts under, and whether it is limited.
func (l *clientLimitListener) client(a net.Addr) (string, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return "", false
	}
	ip := ap.Addr().WithZone("").Unmap()
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return "", false
		}
	}
	return throttleAddr(ip.String()), true
}

func (l *clientLimitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
}

// refuse answers a connection over its client's share and closes it.
func refuse(c net.Conn) {
	defer c.Close()
	out, ok := problemResponse(http.StatusServiceUnavailable, ledger.CodeUnavailable,
		"too many connections from your address at once; close some, or reuse one")
	if !ok {
		return
	}
	c.SetWriteDeadline(time.Now().Add(refusedWriteTimeout))
	c.Write(out)
}

type clientConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *clientConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite keeps the half-close net/http uses after a 431.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ParsePrefixes reads IPs and CIDRs (as TrustedProxies holds them) as
// prefixes: an IP is a prefix of its full length.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		ip = ip.WithZone("").Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
