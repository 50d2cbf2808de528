package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address r came from, believing X-Forwarded-For only
// from Config.TrustedProxies (see clientIP). The first unparseable entry
// the walk meets is logged, once per Server (a proxy writing such entries
// writes them on every request).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 || len(s.cfg.TrustedProxies) == 0 {
		// Nothing to walk: skip building the reporting closure, which would
		// cost the JWKS path an allocation per request.
		return clientIP(r.RemoteAddr, nil, nil, nil)
	}
	return clientIP(r.RemoteAddr, xff, s.cfg.TrustedProxies, func(entry string) {
		s.badXFF.Do(func() {
			s.log.Warn("unparseable X-Forwarded-For entry skipped; further ones are not logged",
				"entry", truncate(entry, 64), "remote", r.RemoteAddr)
		})
	})
}

// clientIP returns the address a request came from: remoteAddr (host:port
// of the connection) unless that address is a trusted proxy, in which case
// the X-Forwarded-For values (xff, every header line) are walked from the
// right, skipping trusted proxies, and the first other address is the
// client. Entries may carry a port (ip:port, [v6]:port, as some proxies
// write them). An entry that is no address is skipped and reported to
// onBad (when not nil), so the result is the rightmost parseable address
// the rule picks; if every entry is trusted or unparseable, it is the last
// trusted hop. The result is invalid only if remoteAddr is unparseable.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix, onBad func(entry string)) netip.Addr {
	addr, ok := parseHop(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(addr, trusted) {
		return addr
	}
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			entry := strings.TrimSpace(parts[j])
			hop, ok := parseHop(entry)
			if !ok {
				if onBad != nil {
					onBad(entry)
				}
				continue
			}
			if !isTrusted(hop, trusted) {
				return hop
			}
			addr = hop
		}
	}
	return addr
}

// parseHop parses an address with or without a port: 192.0.2.1,
// 192.0.2.1:4711, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:4711.
// IPv4-mapped addresses come back as IPv4.
func parseHop(s string) (netip.Addr, bool) {
	// A connection's RemoteAddr is always host:port: try that first, as a
	// failed parse allocates its error.
	if i := strings.LastIndexByte(s, ':'); i > 0 && (s[0] == '[' || strings.IndexByte(s[:i], ':') < 0) {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap(), true
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
			if err == nil && !a.Is6() {
				err = perr
			}
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// truncate shortens s to at most n bytes for a log line.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
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
