package contract

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// chooser drives value generation: a seeded PRNG for the table-driven
// differential test, the fuzzer's bytes for FuzzCheckDifferential.
type chooser interface{ intn(n int) int }

// randChooser picks uniformly, or, with bias b%, picks the first (valid)
// option, so that whole values often come out valid too.
type randChooser struct {
	r    *rand.Rand
	bias int
}

func (c randChooser) intn(n int) int {
	if c.r.IntN(100) < c.bias {
		return 0
	}
	return c.r.IntN(n)
}

// byteChooser reads choices from fuzz input; once it runs out every choice
// is 0, the first (valid) option, so short inputs give mostly valid values.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	x := int(c.b[0])
	c.b = c.b[1:]
	return x % n
}

func pick[T any](c chooser, options ...T) T { return options[c.intn(len(options))] }

// valid first: index 0 of every pool passes the schema.
var (
	emails = []string{"ann@example.com", "first.last+tag@sub.example.co.uk", "a@b", "ünï@example.com", "a@[127.0.0.1]",
		"a@[IPv6:::1]", `"quoted local"@example.com`, "no-at-sign", "a..b@example.com", "x@-bad.com", "a@b.c.", "@example.com",
		"a@" + strings.Repeat("x", 64) + ".com", strings.Repeat("l", 65) + "@example.com", "a@exa_mple.com", "bad\xff@example.com"}
	uris = []string{"https://example.com/a?b=c#d", "http://[fe80::1%25eth0]/", "http://fe80::1/", "http://[::1]:8080/x",
		"mailto:ann@example.com", "urn:isbn:0451450523", "relative/path", "https://exa mple.com/", "https://example.com/%zz",
		"http://user:pw@host/", "HTTP://EXAMPLE.COM", "", "ftp://x/y z", "http://例子.测试/", "http://host:port/", "1http://x", "http://a.com/#a#b"}
	dates = []string{"2024-02-29", "2023-02-29", "2024-02-30", "2024-13-01", "0000-01-01", "2024-1-01", "24-01-01",
		"2024-01-01x", "2024-00-10", "1900-02-29", "2000-02-29", "２０２４-01-01"}
	dateTimes = []string{"2024-06-30T23:59:60Z", "2024-06-30T23:59:60+01:00", "1990-12-31T15:59:60-08:00",
		"2024-01-01T00:00:00.123456789+05:30", "2024-01-01 00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01t00:00:00z",
		"2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00", "2024-02-30T00:00:00Z", "2024-01-01T00:00:00.Z"}
	clocks    = []string{"12:30:00Z", "23:59:60Z", "12:30:00", "12:30:00.5+01:00", "+1:30:00Z", "12:60:00Z", "00:00:60+00:01"}
	hostnames = []string{"example.com", "-bad.com", strings.Repeat("a", 64) + ".com", "xn--bcher-kva.example", "exa_mple.com", "例子.com", "a.", "a..b", ""}
	ipv4s     = []string{"192.168.0.1", "256.1.1.1", "01.2.3.4", "1.2.3", "+1.2.3.4", "1.2.3.4.5", " 1.2.3.4"}
	ipv6s     = []string{"2001:db8::8a2e:370:7334", "::1", "fe80::1%eth0", "1.2.3.4", ":::", "::ffff:1.2.3.4"}
	uuids     = []string{"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000", "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"}
	names     = []string{"Ann", "Zoë", strings.Repeat("é", 20), strings.Repeat("é", 21), "", "bad\xffutf8", "\xff\xfe", "a\u2028b<&>", strings.Repeat("long ", 10)}
	stages    = []string{"new", "warm", "hot", "Hot", "", "cold", "ho\xff"}
	countries = []string{"GB", "gb", "GBR", "\xffB", "ÉU", ""}
	phones    = []string{"+44 20 7946 0958", "12345", "phone", "+" + strings.Repeat("1", 21)}
)

func genTime(c chooser) time.Time {
	base := time.Date(2024, 5, 17, 13, 4, 5, 123456789, time.UTC)
	switch c.intn(8) {
	case 1:
		return base.In(time.FixedZone("IST", 5*3600+1800))
	case 2:
		return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	case 3:
		return time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	case 4:
		return base.In(time.FixedZone("far", 24*3600))
	case 5:
		return base.In(time.FixedZone("LMT", -75))
	case 6:
		return time.Time{}
	case 7:
		return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return base
}

func genContact(c chooser) dContact {
	ct := dContact{Email: pick(c, emails...), Code: dCode(pick(c, 123, 5, -1))}
	if c.intn(2) == 1 {
		p := pick(c, phones...)
		ct.Phone = &p
	}
	if c.intn(2) == 1 {
		ct.Site = pick(c, uris...)
	}
	return ct
}

func genLead(c chooser) dLead {
	l := dLead{
		dBase:   dBase{ID: pick[int64](c, 7, 0, -3)},
		Name:    pick(c, names...),
		Stage:   pick(c, stages...),
		Score:   pick(c, 50, 0, 100, -1, 101, math.MaxInt, math.MinInt),
		Ratio:   pick[float32](c, 0.5, 0.1, 0.9, math.Nextafter32(0.1, 0), math.Nextafter32(0.9, 1), 0.09999999, 0.90000004),
		Big:     pick[int64](c, 9007199254740993, 9007199254740992, 9007199254740994, math.MaxInt64, math.MinInt64),
		Huge:    pick[uint64](c, math.MaxUint64, 18446744073709551000, 18446744073709551001, 0),
		Primary: genContact(c),
		Labels:  pick(c, []string{"a"}, []string{}, nil, []string{"a", "b", "c", "d", "e"}, []string{"bad\xff"}),
		Seen:    genTime(c),
		Since:   pick(c, time.Time{}, genTime(c)),
		Window:  pick(c, dWindow{}, dWindow{From: 1, To: 2}, dWindow{From: 5, To: 1}),
		Day:     pick(c, dates...),
		Country: pick(c, countries...),
		Money:   dMoney{Cents: pick[int64](c, 1999, -1, -2, -150)},
		Count:   pick(c, 3, -7),
		Grid:    pick(c, [2][]string{{"x"}, {}}, [2][]string{}, [2][]string{nil, {"a", "b"}}),
	}
	if c.intn(2) == 0 {
		l.dAudit = &dAudit{By: pick(c, "ops", "x"), At: pick(c, "", dateTimes[0], dateTimes[1])}
	}
	l.Priority = pick[int8](c, 0, 1, 3, 4, -1)
	l.Budget = pick(c, 0, 0.5, 0.49999999999999994, 0.5000000000000001, 1e6, 1000000.1, 1000000.0999999999, math.NaN(), math.Inf(1), math.Copysign(0, -1), 5e-324, 1e21)
	for range pick(c, 1, 0, 2, 3, 4) {
		l.Contacts = append(l.Contacts, genContact(c))
	}
	if c.intn(3) == 1 && l.Contacts == nil {
		l.Contacts = []dContact{}
	}
	if c.intn(2) == 1 {
		o := genContact(c)
		l.Owner = &o
	}
	switch c.intn(4) {
	case 1:
		l.Tags = map[string]int{}
	case 2:
		l.Tags = map[string]int{"a": 1, "b/c~d": 2}
	case 3:
		l.Tags = map[string]int{"ok": 1, "bad\xff": 2, "bad\xfe": 3}
	}
	if c.intn(2) == 1 {
		d := genTime(c)
		l.Due = &d
	}
	l.At = pick(c, "", pick(c, clocks...))
	l.Host = pick(c, "", pick(c, hostnames...))
	l.IPv4 = pick(c, "", pick(c, ipv4s...))
	l.IPv6 = pick(c, "", pick(c, ipv6s...))
	l.UUID = pick(c, "", pick(c, uuids...))
	l.Raw = pick(c, json.RawMessage(nil), json.RawMessage(`{"a": 1}`), json.RawMessage(`nope`), json.RawMessage(` [1, 2] `))
	l.Any = pick[any](c, nil, 1, "x", math.NaN(), map[string]any{"a": []any{1, "b"}}, func() {}, dMoney{Cents: -1})
	l.Blob = pick(c, []byte(nil), []byte{}, []byte("hi"))
	l.Flag = pick(c, nil, new(bool))
	l.Extra = pick(c, map[string]string(nil), map[string]string{"k": "v"})
	return l
}

func genNode(c chooser, depth int) dNode {
	n := dNode{Name: pick(c, "root", "", "way too long", "kid")}
	if c.intn(2) == 1 {
		w := pick(c, 1.5, -0.5, math.Inf(-1))
		n.Weight = &w
	}
	if depth < 3 {
		for range c.intn(5) {
			n.Kids = append(n.Kids, genNode(c, depth+1))
		}
	}
	return n
}

func fixedZone(offset int) *time.Location { return time.FixedZone("z", offset) }
