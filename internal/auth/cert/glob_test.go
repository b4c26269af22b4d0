package cert

import "testing"

func TestAnyMatchFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns, values []string
		fold, want       bool
	}{
		{[]string{"*.Example.COM"}, []string{"WEB.example.com"}, true, true},
		{[]string{"*.Example.COM"}, []string{"WEB.example.com"}, false, false},
		{[]string{"a", "b"}, []string{"c", "b"}, false, true},
		{[]string{"a"}, nil, false, false},
		{nil, []string{"a"}, false, false},
	}
	for _, tt := range tests {
		if got := anyMatch(tt.patterns, tt.values, tt.fold); got != tt.want {
			t.Errorf("anyMatch(%q, %q, %v) = %v, want %v", tt.patterns, tt.values, tt.fold, got, tt.want)
		}
	}
}
