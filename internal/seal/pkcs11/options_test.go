package pkcs11

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseMechanism(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint
		ok   bool
	}{
		{"0x1087", 0x1087, true},
		{"0X1087", 0x1087, true},
		{"4231", 0x1087, true},
		{" 0x0009 ", 9, true},
		{"", 0, false},
		{"0x", 0, false},
		{"CKM_AES_GCM", 0, false},
		{"0x1087x", 0, false},
		{"-1", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseMechanism(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMechanism(%q) = %#x, %v; want %#x, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && FormatMechanism(got) != strings.ToLower(strings.TrimSpace(tt.in)) && tt.in[0] != '4' {
			t.Errorf("FormatMechanism(%#x) = %q, want %q", got, FormatMechanism(got), tt.in)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	slot := uint(0)
	good := Options{Lib: "/lib.so", TokenLabel: "t", PIN: "secret-pin-42", KeyLabel: "k"}
	tests := []struct {
		name  string
		edit  func(*Options)
		words []string // empty: valid
	}{
		{"valid", func(*Options) {}, nil},
		{"slot instead of label", func(o *Options) { o.TokenLabel = ""; o.Slot = &slot }, nil},
		{"key ID", func(o *Options) { o.KeyID = "0x01ab" }, nil},
		{"GCM by number", func(o *Options) { o.Mechanism = MechanismAESGCM }, nil},
		{"nothing", func(o *Options) { *o = Options{} }, []string{"lib is required", "slot or token_label", "pin is required", "key_label"}},
		{"bad key ID", func(o *Options) { o.KeyID = "xyz" }, []string{"key_id"}},
		{"long key ID", func(o *Options) { o.KeyID = strings.Repeat("ab", maxKeyIDLen+1) }, []string{"key_id"}},
		{"RSA-OAEP", func(o *Options) { o.Mechanism = MechanismRSAOAEP }, []string{"CKM_RSA_PKCS_OAEP", "not supported"}},
		{"other mechanism", func(o *Options) { o.Mechanism = 0x1082 }, []string{"0x1082", "not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			_, err := o.validate()
			if len(tt.words) == 0 {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("validate succeeded")
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("validate: %q, want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret-pin-42") {
				t.Errorf("validate: the error holds the PIN: %q", err)
			}
		})
	}
}

func TestCiphertextFormat(t *testing.T) {
	t.Parallel()
	h := header{keyID: []byte{1, 2, 3}, iv: bytes.Repeat([]byte{9}, gcmIVLen)}
	sealed := bytes.Repeat([]byte{7}, gcmTagLen+5)
	ct := h.encode(sealed)
	got, gotSealed, err := decodeCiphertext(ct)
	if err != nil || !bytes.Equal(got.keyID, h.keyID) || !bytes.Equal(got.iv, h.iv) || !bytes.Equal(gotSealed, sealed) {
		t.Fatalf("decodeCiphertext(encode) = %+v, %x, %v", got, gotSealed, err)
	}
	for _, bad := range [][]byte{nil, {formatVersion}, {2, 0, 12}, ct[:len(ct)-6], {formatVersion, 0, 0}} {
		if _, _, err := decodeCiphertext(bad); !errors.Is(err, errFormat) {
			t.Errorf("decodeCiphertext(%x): %v, want errFormat", bad, err)
		}
	}
	// Field boundaries are part of the additional data.
	if bytes.Equal(additionalData([]byte("a"), "bc", "m"), additionalData([]byte("ab"), "c", "m")) {
		t.Error("additionalData is ambiguous")
	}
}

// FuzzDecodeCiphertext: stored ciphertexts are untrusted; decoding never
// panics, and what decodes encodes back to the same bytes.
func FuzzDecodeCiphertext(f *testing.F) {
	f.Add(header{keyID: []byte{1, 2}, iv: make([]byte, gcmIVLen)}.encode(make([]byte, gcmTagLen)))
	f.Add([]byte{formatVersion, 0, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ct []byte) {
		h, sealed, err := decodeCiphertext(ct)
		if err != nil {
			return
		}
		if len(sealed) < gcmTagLen || len(h.iv) == 0 || len(h.keyID) > maxKeyIDLen {
			t.Fatalf("decodeCiphertext(%x) accepted %+v, %d sealed bytes", ct, h, len(sealed))
		}
		if !bytes.Equal(h.encode(sealed), ct) {
			t.Fatalf("decodeCiphertext(%x) does not round-trip", ct)
		}
	})
}
