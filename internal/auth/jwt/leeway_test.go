package jwt

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLeewayUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `10`, want: 10 * time.Second},
		{in: `"10"`, want: 10 * time.Second},
		{in: `"2m"`, want: 2 * time.Minute},
		{in: `"7d"`, want: 7 * 24 * time.Hour},
		{in: `0`, want: 0},
		{in: `""`, want: 0},
		{in: `-1`, want: -time.Second},
		{in: `"-1"`, want: -time.Second},
		{in: `" -2m "`, want: -2 * time.Minute},
		{in: `"soon"`, wantErr: true},
		{in: `"-"`, wantErr: true},
		{in: `"- 5"`, wantErr: true},
		{in: `"--5"`, wantErr: true},
		{in: `1.5`, wantErr: true},
		{in: `1e3`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `99999999999999999999`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var l leeway
			err := json.Unmarshal([]byte(tt.in), &l)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want an error", tt.in, time.Duration(l))
				}
				return
			}
			if err != nil || time.Duration(l) != tt.want {
				t.Fatalf("Unmarshal(%s) = %v, %v; want %v", tt.in, time.Duration(l), err, tt.want)
			}
		})
	}
}
