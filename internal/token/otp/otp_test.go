package otp

import "testing"

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	id := "cfs.abcdefghijklmnopqrstuvwxyz012345"
	tests := []struct {
		name    string
		otp     string
		wantErr bool
	}{
		{"generated pad", New(len(id)), false},
		{"short pad", New(len(id) - 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := Encode(id, tt.otp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Encode err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got, err := Decode(enc, tt.otp)
			if err != nil || got != id {
				t.Fatalf("Decode(Encode(id)) = %q, %v; want the id back", got, err)
			}
		})
	}
	if len(New(36)) != 36 {
		t.Fatal("New(36) has the wrong length")
	}
}
