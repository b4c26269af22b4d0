// Package suggest finds the known word closest to a mistyped one, for "did
// you mean" hints in configuration errors and on the command line. It
// imports only the standard library; its functions are pure and safe for
// concurrent use.
package suggest

import "strings"

// maxDistance is the most edits a word may be from a suggestion.
const maxDistance = 2

// maxLen bounds the words compared, so that a long input costs little:
// suggestions are only for near misses.
const maxLen = 64

// Closest returns the candidate closest to word by edit distance, ignoring
// case, when it is at most two edits away; else "". Of several equally
// close candidates the first in the slice wins.
func Closest(word string, candidates []string) string {
	best, bestDist := "", maxDistance+1
	w := strings.ToLower(word)
	for _, c := range candidates {
		if d := Distance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in bytes. For
// inputs longer than 64 bytes it gives up and returns the longer length.
func Distance(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
