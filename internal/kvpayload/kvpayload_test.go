package kvpayload

import (
	"encoding/json"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		data   string
		want   string
		binary bool
	}{
		{"text", `{"SecretString":"s3 cret\n"}`, "s3 cret\n", false},
		{"bytes", `{"SecretBinary":"AAEC"}`, "\x00\x01\x02", true},
		{"vault data, sorted and compact", `{"user": "u", "password": "p", "n": [1, 2]}`, `{"n":[1,2],"password":"p","user":"u"}`, false},
		{"SecretString beside other keys is Vault data", `{"SecretString":"a","b":"c"}`, `{"SecretString":"a","b":"c"}`, false},
		{"SecretBinary that is not base64", `{"SecretBinary":"!!"}`, `{"SecretBinary":"!!"}`, false},
		{"SecretString not a string", `{"SecretString":5}`, `{"SecretString":5}`, false},
		{"empty", `{}`, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.data), &data); err != nil {
				t.Fatal(err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != tt.want || got.Binary != tt.binary {
				t.Errorf("Decode(%s) = %q binary=%v, want %q binary=%v", tt.data, got.Data, got.Binary, tt.want, tt.binary)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []map[string]string{String("text"), Bytes([]byte{0xff, 0}), String("")} {
		b, _ := json.Marshal(in)
		var data map[string]json.RawMessage
		if err := json.Unmarshal(b, &data); err != nil {
			t.Fatal(err)
		}
		v, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]string
		if v.Binary {
			back = Bytes(v.Data)
		} else {
			back = String(string(v.Data))
		}
		if len(back) != 1 || back[StringKey] != in[StringKey] || back[BinaryKey] != in[BinaryKey] {
			t.Errorf("round trip of %v = %v", in, back)
		}
	}
}
