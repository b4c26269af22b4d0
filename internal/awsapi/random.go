package awsapi

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// Character classes of GetRandomPassword.
const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	punctChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

type randomInput struct {
	PasswordLength          *int64 `json:"PasswordLength"`
	ExcludeCharacters       string `json:"ExcludeCharacters"`
	ExcludeNumbers          bool   `json:"ExcludeNumbers"`
	ExcludePunctuation      bool   `json:"ExcludePunctuation"`
	ExcludeUppercase        bool   `json:"ExcludeUppercase"`
	ExcludeLowercase        bool   `json:"ExcludeLowercase"`
	IncludeSpace            bool   `json:"IncludeSpace"`
	RequireEachIncludedType *bool  `json:"RequireEachIncludedType"`
}

type randomOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

// getRandomPassword makes a password with crypto/rand, as AWS's
// GetRandomPassword does: 32 characters by default (4 to 4096), from the
// classes not excluded, at least one of each when RequireEachIncludedType
// (the default).
func getRandomPassword(_ *session, body []byte) (any, error) {
	var in randomInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n := int64(32)
	if in.PasswordLength != nil {
		n = *in.PasswordLength
	}
	if n < 1 || n > 4096 {
		return nil, invalidParam("PasswordLength must be between 1 and 4096")
	}
	if len(in.ExcludeCharacters) > 4096 {
		return nil, invalidParam("ExcludeCharacters is longer than 4096 characters")
	}
	keep := func(set string) string {
		var b strings.Builder
		for _, c := range set {
			if !strings.ContainsRune(in.ExcludeCharacters, c) {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
	var classes []string
	add := func(excluded bool, set string) {
		if !excluded {
			if s := keep(set); s != "" {
				classes = append(classes, s)
			}
		}
	}
	add(in.ExcludeLowercase, lowerChars)
	add(in.ExcludeUppercase, upperChars)
	add(in.ExcludeNumbers, digitChars)
	add(in.ExcludePunctuation, punctChars)
	add(!in.IncludeSpace, " ")
	if len(classes) == 0 {
		return nil, invalidParam("every character is excluded")
	}
	require := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	if require && int64(len(classes)) > n {
		return nil, invalidParam("PasswordLength is too short to hold a character of each included type")
	}
	all := strings.Join(classes, "")
	out := make([]byte, n)
	for i := range out {
		out[i] = all[randIndex(len(all))]
	}
	if require {
		// Put one character of each class at distinct random places.
		pos := make([]int, n)
		for i := range pos {
			pos[i] = i
		}
		for i, set := range classes {
			j := i + randIndex(int(n)-i)
			pos[i], pos[j] = pos[j], pos[i]
			out[pos[i]] = set[randIndex(len(set))]
		}
	}
	return &randomOutput{RandomPassword: string(out)}, nil
}

// randIndex is a uniform random number in [0, n).
func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return int(v.Int64())
}
