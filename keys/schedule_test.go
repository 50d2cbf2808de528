package keys

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		spec    string
		want    time.Time // zero: only check that it parses
		wantErr bool
	}{
		{name: "every", spec: "@every 720h", want: from.Add(720 * time.Hour)},
		{name: "five fields", spec: "0 3 * * 1"},
		{name: "descriptor", spec: "@weekly"},
		{name: "seconds field refused", spec: "0 0 3 * * 1", wantErr: true},
		{name: "garbage", spec: "often", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSchedule(tc.spec)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseSchedule(%q) = nil error", tc.spec)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want.IsZero() {
				if got := s.Next(from); !got.Equal(tc.want) {
					t.Errorf("Next = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
