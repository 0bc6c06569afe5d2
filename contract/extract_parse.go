package contract

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parser reads one lenient JSON value from src at pos and writes it to out
// as strict JSON. Positions are byte offsets in the whole answer.
type parser struct {
	src      string
	pos      int
	out      []byte
	region   region
	repairs  uint8
	evidence int      // keys and elements read: a failure after them is broken JSON, not prose
	keys     []member // the members of the objects being read, innermost last
	dup      *dupKey  // the first key read twice with different values
}

const (
	repTrailingComma uint8 = 1 << iota
	repComments
	repPython
	repSingleQuote
	repUnquotedKey
	repControl
	repEscape
)

var repairNotes = [...]string{
	"removed trailing commas",
	"removed comments",
	"replaced Python literals (True, False, None) with JSON ones",
	"converted single-quoted strings to double-quoted ones",
	"quoted bare object keys",
	"escaped raw control characters inside strings",
	"dropped needless backslashes before single quotes",
}

func (p *parser) repairList() []string {
	var out []string
	for i, note := range repairNotes {
		if p.repairs&(1<<i) != 0 {
			out = append(out, note)
		}
	}
	return out
}

func (p *parser) eof(inside string) error {
	msg := fmt.Sprintf("answer ends mid-%s at offset %d (the output was probably cut off)", inside, len(p.src))
	if p.region.closed {
		msg = fmt.Sprintf("the JSON in the code fence ends mid-%s at offset %d", inside, len(p.src))
	}
	return &parseError{msg: msg, eof: true, evidence: p.evidence}
}

// fail records a syntax error. The message is formatted only if someone
// reads it: prose full of braces makes many failed attempts.
func (p *parser) fail(format string, args ...any) error {
	return &parseError{pos: p.pos, format: format, args: args, evidence: p.evidence}
}

// found describes what stands at the current position, lazily.
func (p *parser) found() foundAt { return foundAt{p.src, p.pos} }

type foundAt struct {
	src string
	pos int
}

func (f foundAt) String() string {
	if f.pos >= len(f.src) {
		return "the end"
	}
	r, _ := utf8.DecodeRuneInString(f.src[f.pos:])
	return strconv.QuoteRune(r)
}

// skipSpace skips whitespace and comments, which carry no data.
func (p *parser) skipSpace(inside string) error {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		case c == '/' && strings.HasPrefix(p.src[p.pos:], "//"):
			p.repairs |= repComments
			if nl := strings.IndexByte(p.src[p.pos:], '\n'); nl >= 0 {
				p.pos += nl + 1
			} else {
				p.pos = len(p.src)
			}
		case c == '/' && strings.HasPrefix(p.src[p.pos:], "/*"):
			p.repairs |= repComments
			end := strings.Index(p.src[p.pos+2:], "*/")
			if end < 0 {
				p.pos = len(p.src)
				return p.eof(inside)
			}
			p.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) value(depth int) error {
	if depth >= maxNesting {
		err := p.fail("nesting deeper than %d levels", maxNesting)
		err.(*parseError).fatal = true
		return err
	}
	if err := p.skipSpace("value"); err != nil {
		return err
	}
	if p.pos >= len(p.src) {
		return p.eof("value")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"' || c == '\'':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return p.literal()
}

// object reads an object, checking its keys for duplicates: the members
// it pushes on p.keys are dropped when it ends.
func (p *parser) object(depth int) error {
	mark := len(p.keys)
	err := p.members(depth, mark)
	p.keys = p.keys[:mark]
	return err
}

func (p *parser) members(depth, mark int) error {
	p.pos++
	p.out = append(p.out, '{')
	var index map[string]int
	for n := 0; ; n++ {
		if err := p.skipSpace("object"); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return p.eof("object")
		}
		if p.src[p.pos] == '}' {
			if n > 0 {
				p.repairs |= repTrailingComma
			}
			p.pos++
			p.out = append(p.out, '}')
			return nil
		}
		if n > 0 {
			p.out = append(p.out, ',')
		}
		m := member{at: p.pos}
		m.key[0] = len(p.out)
		if err := p.key(); err != nil {
			return err
		}
		m.key[1] = len(p.out)
		if err := p.skipSpace("object"); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return p.eof("object")
		}
		if p.src[p.pos] != ':' {
			return p.fail("expected ':' after an object key, found %s", p.found())
		}
		p.pos++
		p.out = append(p.out, ':')
		p.evidence++
		m.val[0] = len(p.out)
		if err := p.value(depth + 1); err != nil {
			return err
		}
		m.val[1] = len(p.out)
		p.addMember(mark, &index, m)
		if err := p.skipSpace("object"); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return p.eof("object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.out = append(p.out, '}')
			return nil
		default:
			return p.fail("expected ',' or '}' after an object member, found %s", p.found())
		}
	}
}

func (p *parser) key() error {
	c := p.src[p.pos]
	if c == '"' || c == '\'' {
		return p.str()
	}
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos], p.pos == start) {
		p.pos++
	}
	if p.pos == start {
		return p.fail("expected an object key, found %s", p.found())
	}
	p.repairs |= repUnquotedKey
	p.out = strconv.AppendQuote(p.out, p.src[start:p.pos])
	return nil
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && (c >= '0' && c <= '9' || c == '-')
}

func (p *parser) array(depth int) error {
	p.pos++
	p.out = append(p.out, '[')
	for n := 0; ; n++ {
		if err := p.skipSpace("array"); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return p.eof("array")
		}
		if p.src[p.pos] == ']' {
			if n > 0 {
				p.repairs |= repTrailingComma
			}
			p.pos++
			p.out = append(p.out, ']')
			return nil
		}
		if n > 0 {
			p.out = append(p.out, ',')
		}
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.evidence++
		if err := p.skipSpace("array"); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return p.eof("array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.out = append(p.out, ']')
			return nil
		default:
			return p.fail("expected ',' or ']' after an array element, found %s", p.found())
		}
	}
}

// str copies a double- or single-quoted string as a strict JSON string.
func (p *parser) str() error {
	quote := p.src[p.pos]
	if quote == '\'' {
		p.repairs |= repSingleQuote
	}
	p.pos++
	p.out = append(p.out, '"')
	for {
		if p.pos >= len(p.src) {
			return p.eof("string")
		}
		c := p.src[p.pos]
		switch {
		case c == quote:
			p.pos++
			p.out = append(p.out, '"')
			return nil
		case c == '"': // inside a single-quoted string
			p.out = append(p.out, '\\', '"')
			p.pos++
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				p.pos = len(p.src)
				return p.eof("string")
			}
			switch e := p.src[p.pos+1]; e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.out = append(p.out, '\\', e)
				p.pos += 2
			case '\'':
				p.repairs |= repEscape
				p.out = append(p.out, '\'')
				p.pos += 2
			case 'u':
				if p.pos+6 > len(p.src) {
					p.pos = len(p.src)
					return p.eof("string")
				}
				for i := 2; i < 6; i++ {
					if !isHex(p.src[p.pos+i]) {
						p.pos += i
						return p.fail("invalid \\u escape in a string")
					}
				}
				p.out = append(p.out, p.src[p.pos:p.pos+6]...)
				p.pos += 6
			default:
				p.pos++
				return p.fail("invalid escape \\%c in a string", e)
			}
		case c < 0x20:
			p.repairs |= repControl
			p.out = append(p.out, fmt.Sprintf(`\u%04x`, c)...)
			p.pos++
		default:
			p.out = append(p.out, c)
			p.pos++
		}
	}
}

// number accepts exactly JSON's number grammar: "01", "+1", ".5" and NaN
// are not repaired, since reading them is a guess.
func (p *parser) number() error {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		return p.eof("number")
	}
	switch c := p.src[p.pos]; {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		p.skipDigits()
	default:
		return p.fail("invalid number, found %s after '-'", p.found())
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		if p.pos >= len(p.src) {
			return p.eof("number")
		}
		if !isDigit(p.src[p.pos]) {
			return p.fail("invalid number: a digit must follow the decimal point")
		}
		p.skipDigits()
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(p.src) {
			return p.eof("number")
		}
		if !isDigit(p.src[p.pos]) {
			return p.fail("invalid number: the exponent has no digits")
		}
		p.skipDigits()
	}
	if p.pos < len(p.src) && isIdent(p.src[p.pos], false) {
		return p.fail("invalid number, found %s after %q", p.found(), p.src[start:p.pos])
	}
	p.out = append(p.out, p.src[start:p.pos]...)
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) skipDigits() {
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.pos++
	}
}

var literals = map[string]string{
	"true": "true", "false": "false", "null": "null",
	"True": "true", "False": "false", "None": "null",
}

func (p *parser) literal() error {
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos], p.pos == start) {
		p.pos++
	}
	word := p.src[start:p.pos]
	lit, ok := literals[word]
	if !ok {
		if p.pos == len(p.src) && word != "" {
			for w := range literals {
				if strings.HasPrefix(w, word) {
					return p.eof("value")
				}
			}
		}
		p.pos = start
		if word == "" {
			return p.fail("expected a value, found %s", p.found())
		}
		return p.fail("expected a value, found %q", word)
	}
	if lit != word {
		p.repairs |= repPython
	}
	p.out = append(p.out, lit...)
	return nil
}
