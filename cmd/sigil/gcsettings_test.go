package main

import "testing"

// TestGCSettings: serve's soft memory limit is the hash slots' argon2id
// memory plus the headroom, with GOGC raised, unless the environment sets
// them: GOMEMLIMIT leaves both to the runtime, GOGC keeps its value.
func TestGCSettings(t *testing.T) {
	const mem = 19 * 1024 // KiB
	tests := []struct {
		name        string
		env         map[string]string
		wantLimit   int64
		wantPercent int
	}{
		{name: "defaults", wantLimit: 2*mem*1024 + hashHeadroom, wantPercent: gcPercent},
		{name: "GOGC set", env: map[string]string{"GOGC": "100"}, wantLimit: 2*mem*1024 + hashHeadroom},
		{name: "GOMEMLIMIT set", env: map[string]string{"GOMEMLIMIT": "1GiB"}},
		{name: "both set", env: map[string]string{"GOMEMLIMIT": "off", "GOGC": "off"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit, percent := gcSettings(2, mem, func(k string) string { return tc.env[k] })
			if limit != tc.wantLimit || percent != tc.wantPercent {
				t.Fatalf("limit %d, GOGC %d; want %d, %d", limit, percent, tc.wantLimit, tc.wantPercent)
			}
		})
	}
}
