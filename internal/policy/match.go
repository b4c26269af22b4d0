package policy

import "strings"

// wildcard is a compiled rule whose path has a glob or "+" segments, with
// what the priority order needs precomputed.
type wildcard struct {
	perm *perm
	// pattern is the rule path without its trailing "*".
	pattern string
	// firstWC is the offset of the first "+" segment, or for a pure glob
	// the length of its prefix: the later, the more specific.
	firstWC   int
	isPrefix  bool // the path ended in "*"
	wildcards int  // number of "+" segments
}

// beats reports whether w is more specific than o, in Vault's documented
// order: later first wildcard; not a prefix; fewer "+" segments; longer;
// lexicographically greater.
func (w *wildcard) beats(o *wildcard) bool {
	if o == nil {
		return true
	}
	if w.firstWC != o.firstWC {
		return w.firstWC > o.firstWC
	}
	if w.isPrefix != o.isPrefix {
		return !w.isPrefix
	}
	if w.wildcards != o.wildcards {
		return w.wildcards < o.wildcards
	}
	if len(w.pattern) != len(o.pattern) {
		return len(w.pattern) > len(o.pattern)
	}
	return w.pattern > o.pattern
}

// radix is a compressed byte trie holding the pure glob rules by prefix;
// longestPrefix finds the most specific glob in one walk down the path.
type radix struct {
	label    string   // the bytes on the edge into this node
	children []*radix // sorted by the first byte of their label
	val      *wildcard
}

// insert returns the node for key, creating it and splitting edges as
// needed.
func (n *radix) insert(key string) *radix {
	for key != "" {
		i, c := n.child(key[0])
		if c == nil {
			nc := &radix{label: key}
			n.children = append(n.children, nil)
			copy(n.children[i+1:], n.children[i:])
			n.children[i] = nc
			return nc
		}
		l := commonPrefix(c.label, key)
		if l < len(c.label) {
			mid := &radix{label: c.label[:l], children: []*radix{c}}
			c.label = c.label[l:]
			n.children[i] = mid
			c = mid
		}
		key = key[l:]
		n = c
	}
	return n
}

// child returns the child whose label starts with b, or nil and the index
// where such a child would go.
func (n *radix) child(b byte) (int, *radix) {
	lo, hi := 0, len(n.children)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.children[m].label[0] < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(n.children) && n.children[lo].label[0] == b {
		return lo, n.children[lo]
	}
	return lo, nil
}

// longestPrefix returns the value of the longest key that is a prefix of s.
// When all is not nil, it also appends the value of every key that is a
// prefix of s, shortest first.
func (n *radix) longestPrefix(s string, all *[]*wildcard) *wildcard {
	var best *wildcard
	for {
		if n.val != nil {
			best = n.val
			if all != nil {
				*all = append(*all, n.val)
			}
		}
		if s == "" {
			return best
		}
		_, c := n.child(s[0])
		if c == nil || !strings.HasPrefix(s, c.label) {
			return best
		}
		s = s[len(c.label):]
		n = c
	}
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// segTrie holds the rules with "+" segments, one level per path segment:
// a literal segment is a map key, "+" has its own child. A rule not ending
// in "*" sits at the node of its last segment; one ending in "*" sits at
// the node before its last segment, in a radix tree keyed by that last
// segment, which is matched as a string prefix of the request's next
// segment, with any segments after it.
//
// Rules at one node share every segment but the last, hence the offset of
// the first "+" and the number of "+" segments; among the prefix rules of
// a node the longest therefore has priority, which is what the radix tree
// finds.
type segTrie struct {
	lit      map[string]*segTrie
	plus     *segTrie
	exact    *wildcard
	prefixed *radix
}

// add inserts w, whose pattern is split into segs.
func (t *segTrie) add(segs []string, w *wildcard) {
	n := t
	walk := segs
	if w.isPrefix {
		walk = segs[:len(segs)-1]
	}
	for _, s := range walk {
		if s == "+" {
			if n.plus == nil {
				n.plus = &segTrie{}
			}
			n = n.plus
			continue
		}
		c := n.lit[s]
		if c == nil {
			if n.lit == nil {
				n.lit = make(map[string]*segTrie)
			}
			c = &segTrie{}
			n.lit[s] = c
		}
		n = c
	}
	if !w.isPrefix {
		if w.beats(n.exact) {
			n.exact = w
		}
		return
	}
	last := segs[len(segs)-1]
	if last == "+" {
		// "+*" (refused by Parse, possible in a hand-built Rule) means
		// one segment, anything in it, and anything after: the same as an
		// empty prefix at this position.
		last = ""
	}
	if n.prefixed == nil {
		n.prefixed = &radix{}
	}
	if r := n.prefixed.insert(last); w.beats(r.val) {
		r.val = w
	}
}

// match walks path from the segment starting at pos (pos < 0: no segments
// left) and keeps in *best the most specific rule that matches. When all is
// not nil, it also appends every rule that matches, in no particular order.
// Splitting "a/b/" gives the segments "a", "b" and "", as Vault does.
func (t *segTrie) match(path string, pos int, best **wildcard, all *[]*wildcard) {
	if pos < 0 {
		if t.exact != nil && t.exact.beats(*best) {
			*best = t.exact
		}
		if t.exact != nil && all != nil {
			*all = append(*all, t.exact)
		}
		return
	}
	seg, next := path[pos:], -1
	if j := strings.IndexByte(seg, '/'); j >= 0 {
		seg, next = seg[:j], pos+j+1
	}
	if t.prefixed != nil {
		if w := t.prefixed.longestPrefix(seg, all); w != nil && w.beats(*best) {
			*best = w
		}
	}
	if c := t.lit[seg]; c != nil {
		c.match(path, next, best, all)
	}
	if t.plus != nil {
		t.plus.match(path, next, best, all)
	}
}
