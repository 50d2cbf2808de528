package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address r came from, believing X-Forwarded-For only
// from Config.TrustedProxies (see clientIP).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	return clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies)
}

// clientIP returns the address a request came from: remoteAddr (host:port
// of the connection) unless that address is a trusted proxy, in which case
// the X-Forwarded-For values (xff, every header line) are walked from the
// right, skipping trusted proxies, and the first other address is the
// client. Malformed entries stop the walk at the last trusted hop. The
// result is invalid only if remoteAddr is unparseable.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr()
	} else if a, err := netip.ParseAddr(remoteAddr); err == nil {
		addr = a
	} else {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr
			}
			hop = hop.Unmap()
			if !isTrusted(hop, trusted) {
				return hop
			}
			addr = hop
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses trusted-proxy entries (security.trusted_proxies):
// single addresses or CIDR prefixes. Every bad entry is reported.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	var bad []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		bad = append(bad, e)
	}
	if len(bad) > 0 {
		return nil, errBadPrefixes(bad)
	}
	return out, nil
}

type errBadPrefixes []string

func (e errBadPrefixes) Error() string {
	return "trusted proxies: not an address or CIDR prefix: " + strings.Join(e, ", ")
}
