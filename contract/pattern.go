package contract

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Patterns are Go RE2, and for most schemas they are the same simple shape:
// anchored at both ends, a sequence of single characters (literals,
// classes, dot), each repeated a counted or open number of times, like
// ^ORD-[0-9]{6}$. Such a pattern is matched here in one greedy left-to-right
// pass, with no machine to set up, when greedy matching provably gives
// RE2's answer: every open repetition's class is disjoint from whatever
// can come right after it, so no shorter run could ever leave a match.
// Anything else (alternation, repeated groups, word boundaries, an end
// that is not anchored) keeps the compiled regexp. FuzzFastPattern and
// TestFastPatternRandom hold the two to the same answers.

// fastPattern is a compiled simple pattern; nil means "use the regexp".
type fastPattern struct{ items []patItem }

// patItem is a literal run (lit != ""), or one class repeated min..max
// times (max < 0: no upper bound).
type patItem struct {
	lit      string
	ascii    [2]uint64 // the class's ASCII members, a bit each
	wide     []rune    // its other members, as sorted lo, hi pairs
	min, max int
}

// match reports whether the wire form of s matches: it reads s rune by
// rune, each byte of invalid UTF-8 as U+FFFD, which gives the runes of the
// string encoding/json writes (and the validator matches) without building
// it. No literal run holds U+FFFD, so comparing a run's bytes agrees with
// comparing runes.
func (m *fastPattern) match(s string) bool {
	i := 0
	for k := range m.items {
		it := &m.items[k]
		if it.lit != "" {
			if !strings.HasPrefix(s[i:], it.lit) {
				return false
			}
			i += len(it.lit)
			continue
		}
		n := 0
		for i < len(s) && n != it.max {
			r, size := rune(s[i]), 1
			if r >= utf8.RuneSelf {
				r, size = utf8.DecodeRuneInString(s[i:])
			}
			if !it.has(r) {
				break
			}
			i += size
			n++
		}
		if n < it.min {
			return false
		}
	}
	return i == len(s)
}

func (it *patItem) has(r rune) bool {
	if r < utf8.RuneSelf {
		return it.ascii[r>>6]&(1<<(r&63)) != 0
	}
	for j := 0; j+1 < len(it.wide); j += 2 {
		if r < it.wide[j] {
			return false
		}
		if r <= it.wide[j+1] {
			return true
		}
	}
	return false
}

// compilePattern returns the fast matcher for re, or nil when re is not of
// the simple shape or greedy matching could differ from RE2's.
func compilePattern(p any) *fastPattern {
	re, ok := p.(*regexp.Regexp)
	if !ok {
		return nil // another engine: its own semantics
	}
	// regexp.Compile parses with syntax.Perl; so must we.
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	var seq []*syntax.Regexp
	if !flatten1(tree, &seq) || len(seq) < 2 ||
		seq[0].Op != syntax.OpBeginText || seq[len(seq)-1].Op != syntax.OpEndText {
		return nil
	}
	var cls []classRep // ranges, min, max per single character position
	for _, e := range seq[1 : len(seq)-1] {
		switch e.Op {
		case syntax.OpLiteral:
			for _, r := range e.Rune {
				if !utf8.ValidRune(r) {
					return nil // see literalClass
				}
				cls = append(cls, classRep{literalClass(r, e.Flags), 1, 1})
			}
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			c := singleClass(e.Sub[0])
			if c == nil {
				return nil
			}
			lo, hi := e.Min, e.Max
			switch e.Op {
			case syntax.OpStar:
				lo, hi = 0, -1
			case syntax.OpPlus:
				lo, hi = 1, -1
			case syntax.OpQuest:
				lo, hi = 0, 1
			}
			cls = append(cls, classRep{c, lo, hi})
		default:
			c := singleClass(e)
			if c == nil {
				return nil
			}
			cls = append(cls, classRep{c, 1, 1})
		}
	}
	for i, c := range cls {
		if c.min == c.max {
			continue
		}
		// What may come right after an open run: the classes up to and
		// including the next mandatory one.
		for _, next := range cls[i+1:] {
			if overlaps(c.ranges, next.ranges) {
				return nil
			}
			if next.min > 0 {
				break
			}
		}
	}
	return &fastPattern{items: packItems(cls)}
}

type classRep struct {
	ranges   []rune
	min, max int
}

// flatten1 lists the top-level sequence of a pattern, looking through
// concatenations and captures (which do not change whether it matches).
func flatten1(re *syntax.Regexp, out *[]*syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !flatten1(s, out) {
				return false
			}
		}
	case syntax.OpCapture:
		return flatten1(re.Sub[0], out)
	case syntax.OpEmptyMatch:
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL,
		syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat,
		syntax.OpBeginText, syntax.OpEndText:
		*out = append(*out, re)
	default:
		return false
	}
	return true
}

// singleClass is the set of runes a one-character expression matches, as
// sorted lo, hi pairs; nil when it is not one character.
func singleClass(re *syntax.Regexp) []rune {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 1 && utf8.ValidRune(re.Rune[0]) {
			return literalClass(re.Rune[0], re.Flags)
		}
	case syntax.OpCharClass:
		return normalise(slices.Clone(re.Rune))
	case syntax.OpAnyChar:
		return []rune{0, unicode.MaxRune}
	case syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	}
	return nil
}

// literalClass is what RE2 matches for one literal rune: the rune, or
// under (?i) its whole simple case-folding orbit. A literal that is no
// valid rune (a surrogate such as \x{d800}) is left to regexp: it matches
// U+FFFD where it falls in the pattern's literal prefix, which regexp
// compares as the bytes of U+FFFD, and nothing elsewhere, so no class
// describes it.
func literalClass(r rune, flags syntax.Flags) []rune {
	rs := []rune{r, r}
	if flags&syntax.FoldCase != 0 {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			rs = append(rs, f, f)
		}
	}
	return normalise(rs)
}

// normalise sorts lo, hi pairs and merges those that touch.
func normalise(rs []rune) []rune {
	pairs := make([][2]rune, 0, len(rs)/2)
	for i := 0; i+1 < len(rs); i += 2 {
		pairs = append(pairs, [2]rune{rs[i], rs[i+1]})
	}
	slices.SortFunc(pairs, func(a, b [2]rune) int { return int(a[0]) - int(b[0]) })
	out := rs[:0]
	for _, p := range pairs {
		if n := len(out); n > 0 && p[0] <= out[n-1]+1 {
			out[n-1] = max(out[n-1], p[1])
			continue
		}
		out = append(out, p[0], p[1])
	}
	return out
}

func overlaps(a, b []rune) bool {
	for i := 0; i+1 < len(a); i += 2 {
		for j := 0; j+1 < len(b); j += 2 {
			if a[i] <= b[j+1] && b[j] <= a[i+1] {
				return true
			}
		}
	}
	return false
}

// packItems turns the positions into items, joining single mandatory
// literal runes into runs that are compared as bytes. U+FFFD stays a
// class: a byte of invalid UTF-8 reads as U+FFFD but is not its encoding.
func packItems(cls []classRep) []patItem {
	var items []patItem
	var run []byte
	flush := func() {
		if len(run) > 0 {
			items = append(items, patItem{lit: string(run)})
			run = run[:0]
		}
	}
	for _, c := range cls {
		if c.min == 1 && c.max == 1 && len(c.ranges) == 2 && c.ranges[0] == c.ranges[1] && c.ranges[0] != utf8.RuneError {
			run = utf8.AppendRune(run, c.ranges[0])
			continue
		}
		flush()
		it := patItem{min: c.min, max: c.max}
		for i := 0; i+1 < len(c.ranges); i += 2 {
			lo, hi := c.ranges[i], c.ranges[i+1]
			for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
				it.ascii[r>>6] |= 1 << (r & 63)
			}
			if hi >= utf8.RuneSelf {
				it.wide = append(it.wide, max(lo, utf8.RuneSelf), hi)
			}
		}
		items = append(items, it)
	}
	flush()
	return items
}
