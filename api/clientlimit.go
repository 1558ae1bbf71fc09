package api

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
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
	// over its share, and the reading of its request after it.
	refusedWriteTimeout = time.Second
	// refusedDrainBytes bounds what is read of a refused client's request.
	refusedDrainBytes = 64 << 10
	// MaxRefusing bounds the refusals being answered at once (each holds
	// its connection up to refusedWriteTimeout); past it a connection
	// over its client's share is closed unanswered.
	MaxRefusing = 64
)

// ConnectionsPerClient is the share of maxConns one client may hold.
func ConnectionsPerClient(maxConns int) int {
	return max(maxConns/ClientShareOfConnections, min(maxConns, MinConnectionsPerClient))
}

// ConnLimitListener wraps a listener so that at most maxConns
// connections are served at once (more wait in the listen queue, as with
// x/net/netutil's LimitListener, which hid the connections' CloseWrite),
// and a client (by the connection's address: a trusted proxy, in exempt,
// speaks for many and is not limited) holds at most perClient of them;
// one more is answered 503 unavailable and closed.
func ConnLimitListener(ln net.Listener, maxConns, perClient int, exempt []netip.Prefix) net.Listener {
	return &clientLimitListener{Listener: ln, slots: make(chan struct{}, maxConns), perClient: perClient, exempt: exempt,
		open: map[string]int{}, done: make(chan struct{}), refusing: make(chan struct{}, MaxRefusing)}
}

type clientLimitListener struct {
	net.Listener
	slots     chan struct{} // one per connection served
	perClient int
	exempt    []netip.Prefix
	mu        sync.Mutex
	open      map[string]int
	closeOnce sync.Once
	done      chan struct{}
	refusing  chan struct{} // one per refusal being answered
}

func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		client, limited := l.client(c.RemoteAddr())
		over := false
		if limited {
			l.mu.Lock()
			if over = l.open[client] >= l.perClient; !over {
				l.open[client]++
			}
			l.mu.Unlock()
		}
		if over {
			<-l.slots
			select {
			case l.refusing <- struct{}{}:
				go func() { refuse(c); <-l.refusing }()
			default:
				c.Close() // refusals are answered MaxRefusing at a time
			}
			continue
		}
		return &clientConn{Conn: c, release: func() {
			if limited {
				l.release(client)
			}
			<-l.slots
		}}, nil
	}
}

func (l *clientLimitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
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

// refuse answers a connection over its client's share and closes it,
// after reading what the client sent (up to refusedDrainBytes, for at
// most refusedWriteTimeout): closed with its request unread, the
// connection would be reset, and the client lose the answer.
func refuse(c net.Conn) {
	defer c.Close()
	out, ok := problemResponse(http.StatusServiceUnavailable, ledger.CodeUnavailable,
		"too many connections from your address at once; close some, or reuse one",
		"Retry-After: "+strconv.Itoa(int(UnavailableRetryAfter/time.Second)))
	if !ok {
		return
	}
	c.SetDeadline(time.Now().Add(refusedWriteTimeout))
	if _, err := c.Write(out); err != nil {
		return
	}
	closeWrite(c)
	io.Copy(io.Discard, io.LimitReader(c, refusedDrainBytes))
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
func (c *clientConn) CloseWrite() error { return closeWrite(c.Conn) }

// ParsePrefixes reads IPs and CIDRs (as TrustedProxies holds them) as
// prefixes: an IP is a prefix of its full length.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				// As the limiter compares addresses: unmapped.
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
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
