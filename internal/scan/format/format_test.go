package format

import (
	"testing"
)

func TestFind(t *testing.T) {
	t.Parallel()
	rules, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	if rules.Len() < 100 {
		t.Errorf("Len() = %d, want the gitleaks default rule set (over 100 rules)", rules.Len())
	}
	tests := []struct {
		name, path, text string
		wantRule         string
		wantLine         int
	}{
		{"aws key", "config.go", "package x\n\nconst id = \"AKIAZ7VRSQ5TQPKXB3QN\"\n", "aws-access-token", 3},
		{"private key", "id_ed25519", "junk\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDnuLIoFyMQaVq5Ar0h0xmq2uyYEXkqDkTT7NhkXUyWWwAAAJj3Y1bq92NW\n-----END OPENSSH PRIVATE KEY-----\n", "private-key", 2},
		{"nothing", "main.go", "package main\n\nfunc main() {}\n", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rules.Detector().Find(tt.path, tt.text)
			if tt.wantRule == "" {
				if len(got) != 0 {
					t.Errorf("Find = %d matches (first %s), want none", len(got), got[0].RuleID)
				}
				return
			}
			for _, m := range got {
				if m.RuleID == tt.wantRule && m.Line == tt.wantLine {
					return
				}
			}
			var ids []string
			for _, m := range got {
				ids = append(ids, m.RuleID)
			}
			t.Errorf("Find: no %s at line %d (got %v)", tt.wantRule, tt.wantLine, ids)
		})
	}
}
