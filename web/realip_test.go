package web

import (
	"net/http"
	"slices"
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
		// bad lists the entries reported as unparseable, in walk order.
		bad []string
	}{
		{name: "direct", remote: "203.0.113.5:1234", want: "203.0.113.5"},
		{name: "untrusted proxy header ignored", remote: "203.0.113.5:1234", xff: []string{"1.2.3.4"}, want: "203.0.113.5"},
		{name: "trusted proxy", remote: "10.1.2.3:80", xff: []string{"1.2.3.4"}, want: "1.2.3.4"},
		{name: "spoofed left entries ignored", remote: "10.1.2.3:80", xff: []string{"6.6.6.6, 1.2.3.4"}, want: "1.2.3.4"},
		{name: "chain of trusted proxies", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, 192.0.2.1", "10.9.9.9"}, want: "1.2.3.4"},
		{name: "all trusted", remote: "10.1.2.3:80", xff: []string{"10.2.2.2"}, want: "10.2.2.2"},
		{name: "garbage skipped", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, nonsense"}, want: "1.2.3.4", bad: []string{"nonsense"}},
		{name: "garbage between trusted hops", remote: "10.1.2.3:80", xff: []string{"5.6.7.8, unknown, 10.9.9.9"}, want: "5.6.7.8", bad: []string{"unknown"}},
		{name: "only garbage", remote: "10.1.2.3:80", xff: []string{"unknown", "_hidden"}, want: "10.1.2.3", bad: []string{"_hidden", "unknown"}},
		{name: "empty entry", remote: "10.1.2.3:80", xff: []string{"1.2.3.4,"}, want: "1.2.3.4", bad: []string{""}},
		{name: "ipv4 with port", remote: "10.1.2.3:80", xff: []string{"203.0.113.5:4711"}, want: "203.0.113.5"},
		{name: "ipv4 with port behind trusted hop", remote: "10.1.2.3:80", xff: []string{"203.0.113.5:4711, 10.2.2.2:80"}, want: "203.0.113.5"},
		{name: "ipv6 with port", remote: "10.1.2.3:80", xff: []string{"[2001:db9::7]:4711"}, want: "2001:db9::7"},
		{name: "ipv6 in brackets", remote: "10.1.2.3:80", xff: []string{"[2001:db9::7]"}, want: "2001:db9::7"},
		{name: "mapped ipv4 with port", remote: "10.1.2.3:80", xff: []string{"[::ffff:5.6.7.8]:1"}, want: "5.6.7.8"},
		{name: "trusted hop with port skipped", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, [2001:db8::9]:443"}, want: "1.2.3.4"},
		{name: "bad port", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, 5.6.7.8:99999"}, want: "1.2.3.4", bad: []string{"5.6.7.8:99999"}},
		{name: "ipv4 in brackets refused", remote: "10.1.2.3:80", xff: []string{"1.2.3.4, [5.6.7.8]"}, want: "1.2.3.4", bad: []string{"[5.6.7.8]"}},
		{name: "ipv6 trusted", remote: "[2001:db8::1]:443", xff: []string{"2001:db9::7"}, want: "2001:db9::7"},
		{name: "mapped ipv4", remote: "[::ffff:10.0.0.1]:80", xff: []string{"5.6.7.8"}, want: "5.6.7.8"},
		{name: "bad remote", remote: "nonsense", want: "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var bad []string
			if got := clientIP(tc.remote, tc.xff, trusted, func(e string) { bad = append(bad, e) }).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if !slices.Equal(bad, tc.bad) {
				t.Fatalf("reported %q, want %q", bad, tc.bad)
			}
		})
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/8", "bogus", "300.1.1.1"}); err == nil || !strings.Contains(err.Error(), "bogus, 300.1.1.1") {
		t.Fatalf("bad prefixes: %v", err)
	}
}

// TestUnparseableForwardedForLoggedOnce: behind a trusted proxy, entries
// with ports reach the service as the client's address, and an entry that
// is no address is skipped and logged once, not on every request.
func TestUnparseableForwardedForLoggedOnce(t *testing.T) {
	fake := &fakeTokens{}
	s, logs := newFakeServer(t, fake)
	body := form("grant_type", "client_credentials", "client_id", "svc", "client_secret", "x")
	for i, tc := range []struct{ xff, want string }{
		{"203.0.113.5:4711, unknown", "203.0.113.5"},
		{"[2001:db9::7]:4711, garbage", "2001:db9::7"},
		{"198.51.100.1:1, 10.0.0.9:80", "198.51.100.1"},
	} {
		rec := fakeDo(s, http.MethodPost, PathToken, contentTypeForm, body, "10.1.2.3:4000", map[string]string{"X-Forwarded-For": tc.xff})
		if rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		if got := fake.token.RemoteIP.String(); got != tc.want || fake.token.Client.RemoteIP.String() != tc.want {
			t.Fatalf("request %d: address %s (client %s), want %s", i, got, fake.token.Client.RemoteIP, tc.want)
		}
	}
	if n := strings.Count(logs.String(), "unparseable X-Forwarded-For"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "entry=unknown") {
		t.Fatalf("log does not name the entry:\n%s", logs)
	}
}
