package contract

import (
	"net/netip"
	"strings"
)

// Format checks must agree with santhosh-tekuri/jsonschema exactly, so the
// verdict "invalid" (and its explanation) always comes from the validator's
// own format function, which the compiled schema carries. What lives here
// are allocation-free recognisers of the common, certainly valid shapes:
// when one says yes, the validator would too (FuzzFormatFastPaths holds
// them to that); when it is unsure, Check asks the validator. So formats
// cannot drift, and valid values do not allocate.

type fastFormat func(string) bool

var fastFormats = map[string]fastFormat{
	"date":      fastDate,
	"time":      fastTime,
	"date-time": fastDateTime,
	"email":     fastEmail,
	"hostname":  fastHostname,
	"ipv4":      fastIPv4,
	"ipv6":      fastIPv6,
	"uuid":      fastUUID,
	"uri":       fastURI,
	"iri":       fastURI,
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func num2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// fastDate mirrors time.Parse("2006-01-02", s), which the validator uses.
func fastDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:]) {
		return false
	}
	year := num2(s[:2])*100 + num2(s[2:4])
	month, day := num2(s[5:7]), num2(s[8:])
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}

// fastTime accepts hh:mm:ss[.frac](Z|±hh:mm) without a leap second.
func fastTime(s string) bool {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' || !digits(s[:2]) || !digits(s[3:5]) || !digits(s[6:8]) {
		return false
	}
	if num2(s[:2]) > 23 || num2(s[3:5]) > 59 || num2(s[6:8]) > 59 {
		return false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		s = s[n:]
	}
	if s == "Z" || s == "z" {
		return true
	}
	return len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':' &&
		digits(s[1:3]) && digits(s[4:]) && num2(s[1:3]) <= 23 && num2(s[4:]) <= 59
}

func fastDateTime(s string) bool {
	return len(s) >= 20 && (s[10] == 'T' || s[10] == 't') && fastDate(s[:10]) && fastTime(s[11:])
}

// fastEmail covers unquoted local parts and host-name domains; quoted local
// parts and address literals are left to the validator. The local part
// ends at the first byte outside its class, which must be '@'.
func fastEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := emailLocal.span(s, 0)
	if at == 0 || at > 64 || at == len(s) || s[at] != '@' {
		return false
	}
	local := s[:at]
	if local[0] == '.' || local[at-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	return fastHostname(s[at+1:])
}

// Byte classes for the hot loops, as tables rather than string searches.
var (
	emailLocal  = byteSet(".!#$%&'*+-/=?^_`{|}~")
	hostLabel   = byteSet("-")
	schemeChar  = byteSet("+-.")
	uriHostChar = byteSet("-._~")
	uriChar     = byteSet("-._~!$&'()*+,;=:@/?")
)

// byteTable holds 1 for the bytes of a class, 0 for the others: numbers,
// so that span can AND eight lookups and branch once.
type byteTable [256]uint8

func byteSet(extra string) (set byteTable) {
	for c := 0; c < 256; c++ {
		if isAlnum(byte(c)) || strings.IndexByte(extra, byte(c)) >= 0 {
			set[c] = 1
		}
	}
	return set
}

// span returns the index of the first byte of s from i on that is not in
// t, or len(s). URIs and domains are long runs of plain characters.
func (t *byteTable) span(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		if t[b[0]]&t[b[1]]&t[b[2]]&t[b[3]]&t[b[4]]&t[b[5]]&t[b[6]]&t[b[7]] == 0 {
			break
		}
	}
	for i < len(s) && t[s[i]] != 0 {
		i++
	}
	return i
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// fastHostname accepts dot-separated labels of 1 to 63 letters, digits and
// inner hyphens, 253 bytes at most after an optional final dot.
func fastHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; ; {
		j := hostLabel.span(s, i)
		if label := s[i:j]; len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if j == len(s) {
			return true
		}
		if s[j] != '.' {
			return false
		}
		i = j + 1
	}
}

func fastIPv4(s string) bool {
	for g := 0; g < 4; g++ {
		end := strings.IndexByte(s, '.')
		if g == 3 {
			end = len(s)
		} else if end < 0 {
			return false
		}
		part := s[:end]
		if len(part) == 0 || len(part) > 3 || !digits(part) || (len(part) > 1 && part[0] == '0') {
			return false
		}
		n := 0
		for i := 0; i < len(part); i++ {
			n = n*10 + int(part[i]-'0')
		}
		if n > 255 {
			return false
		}
		if g < 3 {
			s = s[end+1:]
		}
	}
	return true
}

func fastIPv6(s string) bool {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return false
	}
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Zone() == ""
}

func fastUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// fastURI accepts scheme ":" ["//" host [":" port]] path ["?" query]
// ["#" fragment] over a conservative character set: no user info, no IP
// literals, no percent signs in the host. One pass over byte tables.
func fastURI(s string) bool {
	if len(s) == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	i := schemeChar.span(s, 1)
	if i == len(s) || s[i] != ':' {
		return false
	}
	i++
	if strings.HasPrefix(s[i:], "//") {
		i += 2
		start := i
		if i = uriHostChar.span(s, i); i == start {
			return false
		}
		if i < len(s) && s[i] == ':' {
			for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			}
		}
		if i < len(s) && s[i] != '/' && s[i] != '?' && s[i] != '#' {
			return false
		}
	}
	hashes := 0
	for ; i < len(s); i++ {
		if i = uriChar.span(s, i); i == len(s) {
			break
		}
		switch s[i] {
		case '#':
			if hashes++; hashes > 1 {
				return false
			}
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
