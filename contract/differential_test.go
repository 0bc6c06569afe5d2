package contract

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/stretchr/testify/require"
)

// The judge of the typed plan: marshal the value with encoding/json and
// validate the JSON with santhosh-tekuri. Check must reach the same verdict
// with the same violations (path, keyword, and here even message and value,
// since both routes share the message builders).

func diffOne[T any](t testing.TB, v T) (valid bool) {
	t.Helper()
	c, err := For[T]()
	require.NoError(t, err)
	got := c.Check(v)
	raw, merr := json.Marshal(v)
	if merr != nil {
		ve, ok := asValidationError(got)
		require.Truef(t, ok, "json.Marshal fails (%v) but Check says %v", merr, got)
		require.Truef(t, hasKeyword(ve, "marshal"), "json.Marshal fails (%v) but Check says %v", merr, got)
		return false
	}
	want := c.ValidateJSON(raw)
	if want == nil {
		require.NoErrorf(t, got, "the JSON is valid:\n%s", raw)
		return true
	}
	require.Errorf(t, got, "the JSON is invalid (%v):\n%s", want, raw)
	wantVE, _ := asValidationError(want)
	gotVE, ok := asValidationError(got)
	require.True(t, ok, "Check must return a *ValidationError, got %T", got)
	require.Equalf(t, pathKeywords(wantVE), pathKeywords(gotVE), "path+keyword sets differ for:\n%s", raw)
	require.Equalf(t, wantVE.Violations, gotVE.Violations, "violations differ for:\n%s", raw)
	require.Equalf(t, wantVE.Total, gotVE.Total, "totals differ for:\n%s", raw)
	return false
}

func hasKeyword(ve *ValidationError, kw string) bool {
	for _, v := range ve.Violations {
		if v.Keyword == kw {
			return true
		}
	}
	return false
}

func pathKeywords(ve *ValidationError) []string {
	var out []string
	for _, v := range ve.Violations {
		out = append(out, v.Path+" "+v.Keyword)
	}
	return out
}

func TestCheckDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	valid := 0
	const n = 3000
	for i := range n {
		c := randChooser{r: r, bias: []int{0, 90, 97}[i%3]}
		v := genLead(c)
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("value #%d: %#v", i, v)
				}
			}()
			if diffOne(t, v) {
				valid++
			}
			diffOne(t, &v)
			diffOne(t, []dLead{v})
			diffOne(t, genNode(c, 0))
			diffOne(t, map[string]dContact{"main": v.Primary})
			diffOne(t, []dContact(nil))
			if v.Owner != nil {
				diffOne(t, *v.Owner)
			}
		})
		if t.Failed() {
			break
		}
	}
	t.Logf("%d of %d generated leads were valid", valid, n)
}

// TestCheckDifferentialValid makes sure the generators do reach the valid
// side: index 0 of every pool is a valid choice.
func TestCheckDifferentialValid(t *testing.T) {
	zero := &byteChooser{}
	l := genLead(zero)
	require.NoError(t, Check(l), "%#v", l)
	require.True(t, diffOne(t, l))
	require.True(t, diffOne(t, benchfixture.Sample()))
	require.True(t, diffOne(t, genNode(zero, 0)))
}

func TestCheckDifferentialMutations(t *testing.T) {
	// Targeted corners, one change from a valid lead each.
	base := func() dLead { return genLead(&byteChooser{}) }
	cases := map[string]func(*dLead){
		"nil contacts":          func(l *dLead) { l.Contacts = nil },
		"leap second date-time": func(l *dLead) { l.dAudit = &dAudit{By: "ops", At: "2016-12-31T23:59:60Z"} },
		"big integer above max": func(l *dLead) { l.Big = 9007199254740994 },
		"big integer at max":    func(l *dLead) { l.Big = 9007199254740993 },
		"invalid utf8 name":     func(l *dLead) { l.Name = strings.Repeat("\xff", 21) },
		"html name":             func(l *dLead) { l.Name = "<b>&amp;</b>" },
		"ipv6 zone in uri":      func(l *dLead) { l.Primary.Site = "http://[fe80::1%25en0]:8080/" },
		"unbracketed ipv6":      func(l *dLead) { l.Primary.Site = "http://fe80::1/" },
		"unicode email":         func(l *dLead) { l.Primary.Email = "josé@example.com" },
		"feb 30":                func(l *dLead) { l.Day = "2024-02-30" },
		"code in slice":         func(l *dLead) { l.Contacts = []dContact{{Email: "a@b.co", Code: 1}} },
		"code at root":          func(l *dLead) { l.Primary.Code = 1 },
		"window zero by method": func(l *dLead) { l.Window = dWindow{From: 3, To: 3} },
		"nil embedded pointer":  func(l *dLead) { l.dAudit = nil },
		"odd offset time":       func(l *dLead) { l.Seen = l.Seen.In(fixedZone(-75)) },
		"quoted count":          func(l *dLead) { l.Count = -42 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			l := base()
			mutate(&l)
			diffOne(t, l)
			diffOne(t, &l)
		})
	}
}

// dStrings puts one fuzzed string through every string check.
type dStrings struct {
	Email    string            `json:"email" jsonschema:"format=email"`
	URI      string            `json:"uri" jsonschema:"format=uri"`
	IRI      string            `json:"iri" jsonschema:"format=iri"`
	Date     string            `json:"date" jsonschema:"format=date"`
	DateTime string            `json:"date_time" jsonschema:"format=date-time"`
	Time     string            `json:"time" jsonschema:"format=time"`
	Host     string            `json:"host" jsonschema:"format=hostname"`
	IPv4     string            `json:"ipv4" jsonschema:"format=ipv4"`
	IPv6     string            `json:"ipv6" jsonschema:"format=ipv6"`
	UUID     string            `json:"uuid" jsonschema:"format=uuid"`
	Duration string            `json:"duration" jsonschema:"format=duration"`
	Pattern  string            `json:"pattern" jsonschema:"pattern=^[a-z]+(-[a-z]+)*$"`
	Length   string            `json:"length" jsonschema:"minLength=2,maxLength=5"`
	Enum     string            `json:"enum" jsonschema:"enum=a,enum=é,enum=\u00e9"`
	Map      map[string]string `json:"map"`
	When     time.Time         `json:"when"`
	Ptr      *time.Time        `json:"ptr"`
}

func FuzzCheckDifferential(f *testing.F) {
	f.Add([]byte{}, "", int64(0), int32(0))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "2016-12-31T23:59:60Z", int64(1e9), int32(3600))
	f.Add([]byte(strings.Repeat("\x03\x01", 40)), "http://[fe80::1%25eth0]/", int64(-62135596801), int32(-75))
	f.Add([]byte("\x00\x00\x00\x00\x05\x02\x07\x0b\x01\x01\x02\x00\x03"), "http://fe80::1/", int64(253402300800), int32(86400))
	for _, s := range []string{"josé@example.com", "2024-02-30", "23:59:60Z", "::1", "a\xffb", "é", "ab-cd", "P1Y2M", "https://example.com/a b"} {
		f.Add([]byte(s), s, int64(len(s))*1e8, int32(len(s))*1800)
	}
	f.Fuzz(func(t *testing.T, data []byte, s string, sec int64, off int32) {
		c := &byteChooser{b: data}
		diffOne(t, genLead(c))
		diffOne(t, genNode(c, 0))
		p := genPure(c)
		diffOne(t, p)
		cp, err := For[dPure]()
		require.NoError(t, err)
		if got, want := okAt(cp.plan, unsafe.Pointer(&p), 0), exactValid(cp, p); got != want {
			t.Fatalf("the fast route says %v, the walk %v, for %#v", got, want, p)
		}
		when := time.Unix(sec, int64(off)).In(time.FixedZone("f", int(off)))
		diffOne(t, dStrings{Email: s, URI: s, IRI: s, Date: s, DateTime: s, Time: s, Host: s, IPv4: s, IPv6: s,
			UUID: s, Duration: s, Pattern: s, Length: s, Enum: s, Map: map[string]string{s: s}, When: when, Ptr: &when})
	})
}
