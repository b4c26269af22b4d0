package framework

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDurationUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `10`, want: 10 * time.Second},
		{in: `0`, want: 0},
		{in: `"10"`, want: 10 * time.Second},
		{in: `"30s"`, want: 30 * time.Second},
		{in: `"5m"`, want: 5 * time.Minute},
		{in: `"768h"`, want: 768 * time.Hour},
		{in: `"3h25m19s"`, want: 3*time.Hour + 25*time.Minute + 19*time.Second},
		{in: `"1.5s"`, want: 1500 * time.Millisecond},
		{in: `"7d"`, want: 7 * 24 * time.Hour},
		{in: `""`, want: 0},
		{in: `" 5m "`, want: 5 * time.Minute},
		{in: `-1`, wantErr: true},
		{in: `"-1s"`, wantErr: true},
		{in: `"-1"`, wantErr: true},
		{in: `1.5`, wantErr: true},
		{in: `1e3`, wantErr: true},
		{in: `"soon"`, wantErr: true},
		{in: `"5x"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `[]`, wantErr: true},
		{in: `99999999999999999999`, wantErr: true},
		{in: `9223372037`, wantErr: true}, // seconds beyond time.Duration
		{in: `"9999999999999999d"`, wantErr: true},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Unmarshal(%s) = %v, want error", tt.in, time.Duration(d))
			}
			continue
		}
		if err != nil || time.Duration(d) != tt.want {
			t.Errorf("Unmarshal(%s) = %v, %v, want %v", tt.in, time.Duration(d), err, tt.want)
		}
	}
}

func TestDurationNullKeeps(t *testing.T) {
	t.Parallel()
	d := Duration(time.Minute)
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || d != Duration(time.Minute) {
		t.Errorf("Unmarshal(null) = %v, %v, want unchanged 1m", time.Duration(d), err)
	}
}

func TestDurationMarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: 0, want: `"0s"`},
		{d: 3*time.Hour + 25*time.Minute + 19*time.Second, want: `"3h25m19s"`},
		{d: 1500 * time.Millisecond, want: `"1.5s"`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(Duration(tt.d))
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", tt.d, got, err, tt.want)
		}
	}
}

func TestCommaStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    CommaStrings
		wantErr bool
	}{
		{in: `["a","b"]`, want: CommaStrings{"a", "b"}},
		{in: `[]`, want: CommaStrings{}},
		{in: `"a,b , c"`, want: CommaStrings{"a", "b", "c"}},
		{in: `"a,,b,"`, want: CommaStrings{"a", "b"}},
		{in: `""`, want: CommaStrings{}},
		{in: `"single"`, want: CommaStrings{"single"}},
		{in: `[1]`, wantErr: true},
		{in: `3`, wantErr: true},
		{in: `{"a":1}`, wantErr: true},
	}
	for _, tt := range tests {
		var got CommaStrings
		err := json.Unmarshal([]byte(tt.in), &got)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Unmarshal(%s) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Unmarshal(%s) error = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestIntAndBool(t *testing.T) {
	t.Parallel()
	ints := []struct {
		in      string
		want    Int
		wantErr bool
	}{
		{in: `5`, want: 5},
		{in: `"5"`, want: 5},
		{in: `" -3 "`, want: -3},
		{in: `1.5`, wantErr: true},
		{in: `"x"`, wantErr: true},
		{in: `true`, wantErr: true},
	}
	for _, tt := range ints {
		var got Int
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("Int Unmarshal(%s) = %d, %v, want %d (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	bools := []struct {
		in      string
		want    Bool
		wantErr bool
	}{
		{in: `true`, want: true},
		{in: `false`, want: false},
		{in: `"true"`, want: true},
		{in: `"1"`, want: true},
		{in: `"false"`, want: false},
		{in: `"yes"`, wantErr: true},
		{in: `1`, wantErr: true},
	}
	for _, tt := range bools {
		var got Bool
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("Bool Unmarshal(%s) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
