package cli

import (
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/incident"
)

func TestRewrapDetail(t *testing.T) {
	t.Parallel()
	many := make([]string, 500)
	for i := range many {
		many[i] = "vault:v1:" + strings.Repeat(string(rune('a'+i%26)), 40) + strings.Repeat("x", i%7)
	}
	tests := []struct {
		name      string
		a         incident.Action
		want      []string
		dontWant  []string
		maxLength int
	}{
		{"versions only", incident.Action{Mount: "transit/", Name: "pay", Versions: []int64{1, 3}},
			[]string{"versions 1,3", "coffer write transit/rewrap/pay ciphertext=CIPHERTEXT", "min_decryption_version=4"}, nil, maxRewrapDetail},
		{"no versions", incident.Action{Mount: "t/", Name: "k"}, []string{"all older versions", "coffer write t/rewrap/k"}, nil, maxRewrapDetail},
		{"clear ciphertexts, each once", incident.Action{Mount: "transit/", Name: "pay", Versions: []int64{1}, Ciphertexts: []string{"vault:v1:B", "vault:v1:A", "vault:v1:B"}},
			[]string{"the 2 ciphertext(s)", "ciphertext=vault:v1:A\n", "ciphertext=vault:v1:B\n"}, []string{"CIPHERTEXT"}, maxRewrapDetail},
		{"many ciphertexts, bounded", incident.Action{Mount: "transit/", Name: "pay", Ciphertexts: many},
			[]string{"more (coffer incident report -format=json", "min_decryption_version=4"}, nil, maxRewrapDetail + 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rewrapDetail(tt.a, "4")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("detail lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("detail holds %q:\n%s", w, got)
				}
			}
			if len(got) > tt.maxLength {
				t.Errorf("detail is %d bytes, want at most %d", len(got), tt.maxLength)
			}
		})
	}
}
