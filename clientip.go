package authv2

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 192.0.2.1") for HTTPConfig.TrustedProxies. An
// entry that is neither is a *ConfigError naming it.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, &ConfigError{Field: "TrustedProxies", Reason: "not a CIDR or IP address: " + quoteShort(f)}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// quoteShort quotes a piece of configuration for an error message,
// truncated so a pasted secret or a huge value does not flood a log.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// proxyList answers whether an address belongs to a trusted proxy.
type proxyList []netip.Prefix

func (l proxyList) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the TCP peer, from RemoteAddr.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// clientIP returns the IP of the client: the TCP peer, unless the peer is a
// trusted proxy, in which case the forwarding headers are walked from the
// right (the hop the proxy itself added) leftwards, skipping further trusted
// proxies; the first untrusted hop is the client. Entries to its left were
// written by the client and are never believed. Forwarded (RFC 7239) wins
// over X-Forwarded-For when both are present.
func clientIP(r *http.Request, proxies proxyList) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr // not an IP (a unix socket, a test); still useful for audit
	}
	if !proxies.trusted(peer) {
		return peer.String()
	}
	var hops []string
	if fw := r.Header.Values("Forwarded"); len(fw) > 0 {
		hops = forwardedFor(fw)
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// "unknown", an obfuscated identifier or garbage: nothing to the
			// left of it can be trusted, so the last proxy is the best we know.
			break
		}
		client = a
		if !proxies.trusted(a) {
			break
		}
	}
	return client.String()
}

// forwardedFor returns the for= values of Forwarded header fields, in order.
func forwardedFor(fields []string) []string {
	var out []string
	for _, f := range fields {
		for elem := range strings.SplitSeq(f, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// parseHop parses one hop of X-Forwarded-For or a Forwarded for= value:
// an IPv4 or IPv6 address, perhaps quoted, bracketed and with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if strings.Count(s, ":") == 1 {
		s, _, _ = strings.Cut(s, ":") // IPv4 with a port
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// viaTLS reports whether the client reached us over TLS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto or Forwarded
// proto= (the value of the nearest hop counts).
func viaTLS(r *http.Request, proxies proxyList) bool {
	if r.TLS != nil {
		return true
	}
	peer, ok := peerAddr(r)
	if !ok || !proxies.trusted(peer) {
		return false
	}
	proto := ""
	if fw := r.Header.Values("Forwarded"); len(fw) > 0 {
		for _, f := range fw {
			for elem := range strings.SplitSeq(f, ",") {
				for pair := range strings.SplitSeq(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(strings.TrimSpace(k), "proto") {
						proto = strings.Trim(strings.TrimSpace(v), `"`)
					}
				}
			}
		}
	} else if xs := r.Header.Values("X-Forwarded-Proto"); len(xs) > 0 {
		parts := strings.Split(xs[len(xs)-1], ",")
		proto = strings.TrimSpace(parts[len(parts)-1])
	}
	return strings.EqualFold(proto, "https")
}
