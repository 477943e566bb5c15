package admit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// Limiter caps open connections per gateway and per client address.
type Limiter struct {
	max, perIP int // 0: no limit

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

// NewLimiter makes a limiter; zero means unlimited.
func NewLimiter(max, perIP int) *Limiter {
	return &Limiter{max: max, perIP: perIP, byIP: map[netip.Addr]int{}}
}

// Acquire takes a slot for ip. It returns 0, or the HTTP status to refuse
// with: 503 when the gateway is full, 429 when this address has too many.
func (l *Limiter) Acquire(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return http.StatusServiceUnavailable
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return http.StatusTooManyRequests
	}
	l.total++
	l.byIP[ip]++
	return 0
}

// Release gives back a slot taken by Acquire.
func (l *Limiter) Release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
}

// Open is the number of slots held.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Proxies are the addresses whose X-Forwarded-For is believed
// (GATEWAY_TRUSTED_PROXIES).
type Proxies []netip.Prefix

// ParseProxies reads comma-separated CIDRs or addresses.
func ParseProxies(spec string) (Proxies, error) {
	var p Proxies
	for _, e := range strings.Split(spec, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !strings.Contains(e, "/") {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return nil, err
			}
			p = append(p, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pre, err := netip.ParsePrefix(e)
		if err != nil {
			return nil, err
		}
		p = append(p, pre.Masked())
	}
	return p, nil
}

func (p Proxies) trusted(a netip.Addr) bool {
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the client's address: the peer's, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one.
func (p Proxies) ClientIP(r *http.Request) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !peer.IsValid() || !p.trusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer // a garbled chain: trust only what we saw
			}
			a = a.Unmap()
			if !p.trusted(a) {
				return a
			}
		}
	}
	return peer
}

func addrOf(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
