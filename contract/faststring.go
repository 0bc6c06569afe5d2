package contract

import (
	"slices"
	"unicode/utf8"
)

// stringOK is the fast route's string check: whether s, the Go string,
// certainly passes n. It avoids reading s more often than the keywords
// need. The wire string (invalid UTF-8 written as U+FFFD) is only built
// when a check must see it and s might not be valid UTF-8:
//   - enum values are JSON text, so valid UTF-8: s equal to one is its own
//     wire form, and s equal to none is "not sure", left to the walker;
//   - every fast format accepts only ASCII (FuzzFormatFastPaths checks),
//     so its yes is about the wire string too;
//   - the fast pattern matcher reads invalid bytes as U+FFFD itself;
//   - lengths in characters are bounded by lengths in bytes: at most one
//     character per byte, at least one per four.
func (n *node) stringOK(s string) bool {
	if !n.typeOK {
		return false
	}
	if n.hasEnum && !slices.Contains(n.enumStr, s) {
		return false
	}
	if n.format != nil && (n.fast == nil || !n.fast(s)) {
		if n.format.Validate(wireString(s)) != nil {
			return false
		}
	}
	if n.maxLen >= 0 && len(s) > n.maxLen && runeCount(s) > n.maxLen {
		return false
	}
	if n.minLen >= 0 && len(s)/4 < n.minLen && (len(s) < n.minLen || runeCount(s) < n.minLen) {
		return false
	}
	if n.pattern != nil {
		if n.match != nil {
			return n.match.match(s)
		}
		return n.pattern.MatchString(wireString(s))
	}
	return true
}

// wireString is s as encoding/json writes it.
func wireString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return replaceInvalid(s)
}

// runeCount is utf8.RuneCountInString, which reads a rune at a time, with
// a fast path over ASCII eight bytes at a time.
func runeCount(s string) int {
	n := 0
	for len(s) >= 8 {
		if (uint64(s[0])|uint64(s[1])<<8|uint64(s[2])<<16|uint64(s[3])<<24|
			uint64(s[4])<<32|uint64(s[5])<<40|uint64(s[6])<<48|uint64(s[7])<<56)&0x8080808080808080 != 0 {
			break
		}
		s = s[8:]
		n += 8
	}
	return n + utf8.RuneCountInString(s)
}
