package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The message builders below are shared by the typed plan and by the route
// that validates raw JSON, so that both say the same thing about the same
// violation. Each takes the offending value already rendered by jsonText.

func msgType(got string, want []string, val string) string {
	w := strings.Join(want, " or ")
	switch got {
	case "string", "number", "boolean":
		return "expected " + w + ", got " + got + " " + val
	}
	return "expected " + w + ", got " + got
}

func msgEnum(val string, want []any) string {
	if len(want) == 1 {
		return val + " is not " + jsonText(want[0])
	}
	parts := make([]string, min(len(want), maxListed))
	for i := range parts {
		parts[i] = jsonText(want[i])
	}
	return val + " is not one of " + listText(parts, len(want))
}

func msgConst(val string, want any) string { return val + " is not " + jsonText(want) }

func msgFormat(val, format string, err error) string {
	m := val + " is not a valid " + format
	if err != nil {
		m += ": " + err.Error()
	}
	return m
}

func msgPattern(val, pattern string) string {
	return val + " does not match the pattern " + pattern
}

func msgCount(got, want int, noun, bound string) string {
	return fmt.Sprintf("has %d %s, want %s %d", got, plural(got, noun), bound, want)
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	if strings.HasSuffix(noun, "y") {
		return noun[:len(noun)-1] + "ies"
	}
	return noun + "s"
}

func msgBound(keyword string, bound *big.Rat, val string) string {
	b := ratText(bound)
	switch keyword {
	case "minimum":
		return "must be at least " + b + ", got " + val
	case "maximum":
		return "must be at most " + b + ", got " + val
	case "exclusiveMinimum":
		return "must be greater than " + b + ", got " + val
	case "exclusiveMaximum":
		return "must be less than " + b + ", got " + val
	}
	return "must be a multiple of " + b + ", got " + val
}

func msgRequired(missing []string) string {
	if len(missing) == 1 {
		return "missing required property " + quoteAll(missing)
	}
	return "missing required properties " + quoteAll(missing)
}

func msgAdditional(props []string) string {
	props = slices.Clone(props)
	slices.Sort(props)
	if len(props) == 1 {
		return "property " + quoteAll(props) + " is not allowed"
	}
	return "properties " + quoteAll(props) + " are not allowed"
}

func msgMarshal(err error) string { return "cannot be encoded as JSON: " + err.Error() }

// maxListed bounds the items one message lists (keys, enum values); the
// rest are counted, so a million extra keys make a short message.
const maxListed = 20

// maxItemRunes bounds one listed name: a key may be as long as the answer.
const maxItemRunes = 40

// quoteAll quotes the first maxListed names, each cut to maxItemRunes.
func quoteAll(ss []string) string {
	q := make([]string, min(len(ss), maxListed))
	for i := range q {
		q[i] = strconv.Quote(truncateRunes(ss[i], maxItemRunes))
	}
	return listText(q, len(ss))
}

// listText joins the listed items of a list of total items and counts the
// rest: "a", "b" and 3 more.
func listText(listed []string, total int) string {
	s := strings.Join(listed, ", ")
	if rest := total - len(listed); rest > 0 {
		s += " and " + countText(rest) + " more"
	}
	return s
}

// ratText writes a schema bound as it would appear in JSON: 5, 0.25, 1e-7
// becomes 0.0000001. Bounds come from JSON numbers, so they are decimals.
func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	for prec := 1; prec <= 40; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.RatString()
}

// jsonText renders a decoded JSON value (as santhosh-tekuri's decoder
// returns it: maps, slices, json.Number) compactly, without HTML escaping,
// truncated for display. Object keys come out sorted, so the typed plan and
// the raw-JSON route render the same value the same way.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return truncate(strings.TrimSuffix(b.String(), "\n"))
}

// canonicalText renders JSON bytes as jsonText renders their decoded value.
func canonicalText(raw []byte) string {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return truncate(string(raw))
	}
	return jsonText(v)
}
