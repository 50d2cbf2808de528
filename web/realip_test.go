package web

import (
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{name: "direct", remote: "203.0.113.5:1234", want: "203.0.113.5"},
		{name: "untrusted proxy header ignored", remote: "203.0.113.5:1234", xff: []string{"1.2.3.4"}, want: "203.0.113.5"},
		{name: "trusted proxy", remote: "10.1.2.3:80", xff: []string{"1.2.3.4"}, want: "1.2.3.4"},
		{name: "spoofed left entries ignored", remote: "10.1.2.3:80", xff: []string{"6.6.6.6, 1.2.3.4"}, want: "1.2.3.4"},
		{name: "chain of trusted proxies", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, 192.0.2.1", "10.9.9.9"}, want: "1.2.3.4"},
		{name: "all trusted", remote: "10.1.2.3:80", xff: []string{"10.2.2.2"}, want: "10.2.2.2"},
		{name: "garbage stops walk", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, nonsense"}, want: "10.1.2.3"},
		{name: "ipv6 trusted", remote: "[2001:db8::1]:443", xff: []string{"2001:db9::7"}, want: "2001:db9::7"},
		{name: "mapped ipv4", remote: "[::ffff:10.0.0.1]:80", xff: []string{"5.6.7.8"}, want: "5.6.7.8"},
		{name: "bad remote", remote: "nonsense", want: "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientIP(tc.remote, tc.xff, trusted).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/8", "bogus", "300.1.1.1"}); err == nil || !strings.Contains(err.Error(), "bogus, 300.1.1.1") {
		t.Fatalf("bad prefixes: %v", err)
	}
}
