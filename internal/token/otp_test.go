package token

import "testing"

func TestEncodeWithOTPRoundTrip(t *testing.T) {
	t.Parallel()
	id := NewID()
	tests := []struct {
		name    string
		otp     string
		wantErr bool
	}{
		{"generated pad", NewOTP(len(id)), false},
		{"short pad", NewOTP(len(id) - 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := EncodeWithOTP(id, tt.otp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("EncodeWithOTP err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got, err := DecodeWithOTP(enc, tt.otp)
			if err != nil || got != id {
				t.Fatalf("DecodeWithOTP(EncodeWithOTP(id)) = %q, %v; want the id back", string(got), err)
			}
		})
	}
	if len(NewOTP(IDLength())) != IDLength() {
		t.Fatalf("NewOTP(%d) has the wrong length", IDLength())
	}
}
