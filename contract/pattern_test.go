package contract

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fast pattern matcher must give regexp's answer on the wire string
// (invalid UTF-8 as U+FFFD), for every pattern it accepts to compile.

var simplePatterns = []string{
	`^ORD-[0-9]{6}$`, `^[A-Z]{2}$`, `^\+?[0-9 ]{6,20}$`, `^-?[0-9]+\.[0-9]{2}$`, `^[a-z]*$`, `^a{0}$`,
	`^(?i)abc$`, `^(?i)k$`, `^(?i:ß)x$`, `^.$`, `^(?s).+$`, `^\d{3}-\d{4}$`, `^\w+@\w+$`, `\A[^\n]{2,4}\z`,
	`^(ab)c$`, `^(?:a)(b)?c$`, `^é+ü?$`, `^\x{FFFD}+$`, `^[\x{100}-\x{10FFFF}]{1,3}x$`, `^$`, `^()$`,
	`^[a-c]{2,}[d-f]+$`, `^\p{Greek}+[0-9]$`, `^a?b?c?$`, `^a*?b$`, `^[^a]+a$`,
}

var notSimplePatterns = []string{
	`ORD-[0-9]{6}`, `^ORD`, `ORD$`, `^[a-z]+(-[a-z]+)*$`, `^(ab|cd)$`, `^a+a$`, `^[a-z]*[aeiou]$`,
	`^a?a$`, `^\bx$`, `(?m)^a$`, `^a$|^b$`, `^(ab)+$`, `^a*b?a$`, `^.*x$`,
}

func TestFastPatternShapes(t *testing.T) {
	for _, p := range simplePatterns {
		assert.NotNilf(t, compilePattern(regexp.MustCompile(p)), "%s should have a fast matcher", p)
	}
	for _, p := range notSimplePatterns {
		assert.Nilf(t, compilePattern(regexp.MustCompile(p)), "%s must keep the regexp", p)
	}
	assert.Nil(t, compilePattern(nil), "another regexp engine keeps its own matcher")
}

var patternInputs = []string{
	"", "ORD-004217", "ORD-00421", "ORD-0042177", "ord-004217", "GB", "G", "GBR", "gb", "\xffB", "É",
	"+44 20 7946", "12345", "-12.50", "12.5", "abc", "ABC", "aBc", "K", "k", "\u212a", "ßx", "ẞx", "SSx",
	"\n", "a\nb", "555-1234", "٣٣٣-٣٣٣٣", "a@b", "é", "éü", "éé\xff", "\xff", "\xef\xbf\xbd", "\xff\xfe",
	"\u0100x", "\U0010FFFFx", "ac", "abc", "aabdd", "cf", "αβγ5", "ab", "b", "bb", "xa", "a",
}

func TestFastPatternAgreesWithRegexp(t *testing.T) {
	for _, p := range simplePatterns {
		re := regexp.MustCompile(p)
		m := compilePattern(re)
		require.NotNil(t, m, p)
		for _, s := range patternInputs {
			assert.Equalf(t, re.MatchString(wireString(s)), m.match(s), "%s on %q", p, s)
		}
	}
}

func FuzzFastPattern(f *testing.F) {
	for i, p := range append(simplePatterns, notSimplePatterns...) {
		f.Add(p, patternInputs[i%len(patternInputs)])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		m := compilePattern(re)
		if m == nil {
			// Anchor it: most fuzzed patterns are not, and the anchored
			// form is the one the matcher handles.
			if re, err = regexp.Compile(`^(?:` + pattern + `)$`); err != nil {
				return
			}
			if m = compilePattern(re); m == nil {
				return
			}
		}
		wire := wireString(s)
		if got, want := m.match(s), re.MatchString(wire); got != want {
			t.Fatalf("%s on %q: fast says %v, regexp says %v", re, s, got, want)
		}
		// And on a string the pattern itself suggests, so that matches are
		// common, not just mismatches.
		if sample := sampleFor(m, s); utf8.ValidString(sample) {
			if got, want := m.match(sample), re.MatchString(sample); got != want {
				t.Fatalf("%s on %q: fast says %v, regexp says %v", re, sample, got, want)
			}
		}
	})
}

// sampleFor builds a string that is likely to match: each item's minimum
// count of a member, with bytes of s picking members and extra repeats.
func sampleFor(m *fastPattern, s string) string {
	var b strings.Builder
	next := func() byte {
		if s == "" {
			return 0
		}
		c := s[0]
		s = s[1:]
		return c
	}
	for _, it := range m.items {
		if it.lit != "" {
			b.WriteString(it.lit)
			continue
		}
		var members []rune
		for r := rune(0); r < utf8.RuneSelf; r++ {
			if it.has(r) {
				members = append(members, r)
			}
		}
		for j := 0; j+1 < len(it.wide) && len(members) < 300; j += 2 {
			members = append(members, it.wide[j], it.wide[j+1])
		}
		if len(members) == 0 {
			continue
		}
		n := it.min + int(next()%3)
		if it.max >= 0 && n > it.max {
			n = it.max
		}
		for range n {
			b.WriteRune(members[int(next())%len(members)])
		}
	}
	return b.String()
}

// TestFastPatternRandom composes patterns from the pieces the matcher
// handles, where byte-level fuzzing rarely finds valid ones, and compares
// on strings over an alphabet with case folds, U+FFFD and invalid bytes.
func TestFastPatternRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	atoms := []string{"a", "b", "k", "K", "ß", "é", `\x{FFFD}`, "[a-c]", "[^a]", "[0-9]", ".", `\d`, `\w`, `\s`,
		"[é-ü]", "(?i:k)", "(?i:s)", `\n`, `[\x{10000}-\x{10FFFF}]`, "(?s:.)", "(a)", "[ab]"}
	quants := []string{"", "", "?", "*", "+", "{2}", "{1,3}", "{0,2}", "{2,}", "*?", "+?"}
	alphabet := []string{"a", "b", "c", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "é", "ü", "\ufffd", "\xff",
		"0", "5", "\n", " ", "_", "\U00010000", "x"}
	fast := 0
	for range 5000 {
		var b strings.Builder
		b.WriteString("^")
		for range 1 + r.IntN(4) {
			b.WriteString(atoms[r.IntN(len(atoms))] + quants[r.IntN(len(quants))])
		}
		b.WriteString("$")
		re := regexp.MustCompile(b.String())
		m := compilePattern(re)
		if m == nil {
			continue
		}
		fast++
		for range 30 {
			var s strings.Builder
			for range r.IntN(7) {
				s.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			str := s.String()
			require.Equalf(t, re.MatchString(wireString(str)), m.match(str), "%s on %q", re, str)
		}
	}
	assert.Greater(t, fast, 2000, "most composed patterns should take the fast matcher")
}
