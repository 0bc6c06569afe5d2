package contract

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// walker carries one Check through the plan. It is pooled with the copy of
// the value it walks, so a valid value costs no allocation: the path is a
// reused stack of tokens, and a violation's pointer, message and value text
// are built only when there is a violation to report.
type walker struct {
	path  []pathTok
	viol  []Violation
	depth int
	first error // the first error a Validate method returned
	// omitted counts violations a Validate method's ValidationError found
	// but did not list.
	omitted int
	exact   bool // the fast route said no somewhere above: walk with reflect
}

// pathTok is a property name, or an array index when idx >= 0.
type pathTok struct {
	key string
	idx int
}

// maxRefDepth matches encoding/json, which starts looking for pointer
// cycles 1000 levels down; past it the walker lets encoding/json decide.
const maxRefDepth = 1000

func (w *walker) reset() {
	clear(w.path[:cap(w.path)]) // drop references to the caller's strings
	w.path = w.path[:0]
	w.viol = nil
	w.depth = 0
	w.first = nil
	w.omitted = 0
	w.exact = false
}

func (w *walker) pointer() string {
	if len(w.path) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range w.path {
		b.WriteByte('/')
		if t.idx >= 0 {
			b.WriteString(strconv.Itoa(t.idx))
		} else {
			key := t.key
			if !utf8.ValidString(key) {
				key = replaceInvalid(key) // as encoding/json writes the key
			}
			b.WriteString(escapeToken(key))
		}
	}
	return b.String()
}

func (w *walker) add(keyword, msg, val string) {
	w.viol = append(w.viol, Violation{Path: w.pointer(), Keyword: keyword, Message: msg, Value: val})
}

// valueText renders the value as the validator would show it.
func valueText(v reflect.Value, addr bool) string {
	raw, err := marshalValue(v, addr)
	if err != nil {
		return ""
	}
	return canonicalText(raw)
}

func (w *walker) typeViolation(n *node, v reflect.Value, addr bool) {
	val := valueText(v, addr)
	w.add("type", msgType(n.typeGot, n.sch.Types.ToStrings(), val), val)
}

func (w *walker) enumViolation(n *node, v reflect.Value, addr bool) {
	val := valueText(v, addr)
	w.add("enum", msgEnum(val, n.sch.Enum.Values), val)
}

func (w *walker) boundViolation(k numKeyword, v reflect.Value, addr bool) {
	val := valueText(v, addr)
	w.add(k.keyword, msgBound(k.keyword, k.rat, val), val)
}

func (w *walker) addNull(n *node) {
	if len(n.nullViol) == 0 {
		return
	}
	p := w.pointer()
	for _, v := range n.nullViol {
		v.Path = p + v.Path
		w.viol = append(w.viol, v)
	}
}

// walk checks v against n. addr says whether encoding/json, marshalling the
// whole value, would see v as addressable, which decides whether a
// pointer-receiver MarshalJSON is used. A pure subtree is first asked of
// the fast route; only where it says no is it walked here, to report.
func (w *walker) walk(n *node, v reflect.Value, addr bool) {
	if n.pure && !w.exact && v.CanAddr() {
		if okAt(n, v.Addr().UnsafePointer(), w.depth) {
			return
		}
		w.exact = true
		w.walkExact(n, v, addr)
		w.exact = false
		return
	}
	w.walkExact(n, v, addr)
}

func (w *walker) walkExact(n *node, v reflect.Value, addr bool) {
	switch n.op {
	case opBool:
		if !n.typeOK {
			w.typeViolation(n, v, addr)
		} else if b := v.Bool(); n.hasEnum && !(b && n.enumTrue || !b && n.enumFalse) {
			w.enumViolation(n, v, addr)
		}
	case opInt:
		if !n.typeOK {
			w.typeViolation(n, v, addr)
			return
		}
		x := v.Int()
		if n.hasEnum && !slices.Contains(n.enumInt, x) {
			w.enumViolation(n, v, addr)
			return
		}
		for i := range n.ints {
			if !n.ints[i].passInt(x) {
				w.boundViolation(n.ints[i].numKeyword, v, addr)
			}
		}
	case opUint:
		if !n.typeOK {
			w.typeViolation(n, v, addr)
			return
		}
		x := v.Uint()
		if n.hasEnum && !slices.Contains(n.enumUint, x) {
			w.enumViolation(n, v, addr)
			return
		}
		for i := range n.ints {
			if !n.ints[i].passUint(x) {
				w.boundViolation(n.ints[i].numKeyword, v, addr)
			}
		}
	case opFloat:
		w.walkFloat(n, v, addr)
	case opString:
		w.checkString(n, v.String(), v, addr)
	case opTime:
		t, _ := reflect.TypeAssert[time.Time](v)
		if !timeEncodable(t) {
			w.add("marshal", msgMarshal(timeError(t)), "")
			return
		}
		if n.plainTime && n.typeOK {
			return // RFC 3339 text of an encodable time is a valid date-time
		}
		w.checkString(n, t.Format(time.RFC3339Nano), v, addr)
	case opStruct:
		if !n.typeOK {
			w.typeViolation(n, v, addr)
			return
		}
		w.walkStruct(n, v, addr)
	case opSlice:
		if v.IsNil() {
			w.addNull(n)
			return
		}
		w.walkArray(n, v, true)
	case opArray:
		w.walkArray(n, v, addr)
	case opMap:
		if v.IsNil() {
			w.addNull(n)
			return
		}
		w.walkMap(n, v, addr)
	case opPtr:
		if v.IsNil() {
			w.addNull(n)
			return
		}
		if w.depth >= maxRefDepth {
			w.fallback(n, v, addr)
			return
		}
		w.depth++
		w.walk(n.elem, v.Elem(), true)
		w.depth--
	case opCondAddr:
		if addr {
			w.fallback(n, v, addr)
		} else {
			w.walk(n.alt, v, addr)
		}
	case opAnything:
		if n.canFail && !(v.Kind() == reflect.Interface && v.IsNil()) {
			if _, err := marshalValue(v, addr); err != nil {
				w.add("marshal", msgMarshal(err), "")
			}
		}
	default:
		w.fallback(n, v, addr)
	}
}

func (w *walker) walkFloat(n *node, v reflect.Value, addr bool) {
	x := v.Float()
	if math.IsNaN(x) || math.IsInf(x, 0) {
		w.add("marshal", "cannot be encoded as JSON: "+strconv.FormatFloat(x, 'g', -1, n.bits)+" is not a JSON number", "")
		return
	}
	if !n.typeOK && !(n.intOnly && math.Trunc(x) == x) {
		w.typeViolation(n, v, addr)
		return
	}
	for i := range n.floats {
		if !n.floats[i].pass(x) {
			w.boundViolation(n.floats[i].numKeyword, v, addr)
		}
	}
}

// checkString checks s, the Go string; the wire string differs only where
// s is not valid UTF-8 (encoding/json writes U+FFFD per bad byte), which
// does not change its length in characters.
func (w *walker) checkString(n *node, s string, v reflect.Value, addr bool) {
	if !n.typeOK {
		w.typeViolation(n, v, addr)
		return
	}
	wire := s
	if (n.hasEnum || n.format != nil || n.pattern != nil) && !utf8.ValidString(s) {
		wire = replaceInvalid(s)
	}
	if n.hasEnum && !slices.Contains(n.enumStr, wire) {
		w.enumViolation(n, v, addr)
		return
	}
	if n.format != nil && (n.fast == nil || !n.fast(wire)) {
		if err := n.format.Validate(wire); err != nil {
			val := valueText(v, addr)
			w.add("format", msgFormat(val, n.format.Name, err), val)
			return
		}
	}
	if n.minLen >= 0 || n.maxLen >= 0 {
		c := utf8.RuneCountInString(s)
		if n.minLen >= 0 && c < n.minLen {
			w.add("minLength", msgCount(c, n.minLen, "character", "at least"), valueText(v, addr))
		}
		if n.maxLen >= 0 && c > n.maxLen {
			w.add("maxLength", msgCount(c, n.maxLen, "character", "at most"), valueText(v, addr))
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(wire) {
		val := valueText(v, addr)
		w.add("pattern", msgPattern(val, n.pattern.String()), val)
	}
}

// replaceInvalid does what encoding/json does to invalid UTF-8: one U+FFFD
// per byte that does not start a valid sequence.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func (w *walker) walkArray(n *node, v reflect.Value, addr bool) {
	if !n.typeOK {
		w.typeViolation(n, v, addr)
		return
	}
	if n.op == opSlice && w.depth >= maxRefDepth {
		w.fallback(n, v, addr)
		return
	}
	l := v.Len()
	if n.minItems >= 0 && l < n.minItems {
		w.add("minItems", msgCount(l, n.minItems, "item", "at least"), valueText(v, addr))
	}
	if n.maxItems >= 0 && l > n.maxItems {
		w.add("maxItems", msgCount(l, n.maxItems, "item", "at most"), valueText(v, addr))
	}
	w.depth++
	for i := 0; i < l; i++ {
		w.path = append(w.path, pathTok{idx: i})
		w.walk(n.elem, v.Index(i), addr)
		w.path = w.path[:len(w.path)-1]
	}
	w.depth--
}

func (w *walker) walkMap(n *node, v reflect.Value, addr bool) {
	if !n.typeOK {
		w.typeViolation(n, v, addr)
		return
	}
	if w.depth >= maxRefDepth {
		w.fallback(n, v, addr)
		return
	}
	mark := len(w.viol)
	l := v.Len()
	if n.minProps >= 0 && l < n.minProps {
		w.add("minProperties", msgCount(l, n.minProps, "property", "at least"), valueText(v, addr))
	}
	if n.maxProps >= 0 && l > n.maxProps {
		w.add("maxProperties", msgCount(l, n.maxProps, "property", "at most"), valueText(v, addr))
	}
	if n.addFalse {
		if l > 0 {
			keys := make([]string, 0, l)
			for it := v.MapRange(); it.Next(); {
				keys = append(keys, replaceInvalid(it.Key().String()))
			}
			slices.Sort(keys)
			w.add("additionalProperties", msgAdditional(slices.Compact(keys)), valueText(v, addr))
		}
		return
	}
	w.depth++
	defer func() { w.depth-- }()
	// Scratch key and value: MapIter.Key and Value would allocate per entry.
	k := reflect.New(n.typ.Key()).Elem()
	e := reflect.New(n.typ.Elem()).Elem()
	for it := v.MapRange(); it.Next(); {
		k.SetIterKey(it)
		e.SetIterValue(it)
		key := k.String()
		if !utf8.ValidString(key) {
			// encoding/json rewrites the key, which may then collide with
			// another: let it and the validator decide the whole map.
			w.viol = w.viol[:mark]
			w.fallback(n, v, addr)
			return
		}
		w.path = append(w.path, pathTok{key: key, idx: -1})
		w.walk(n.elem, e, false) // map values are never addressable
		w.path = w.path[:len(w.path)-1]
	}
}

func (w *walker) walkStruct(n *node, v reflect.Value, addr bool) {
	present, missing := 0, 0
	for i := range n.fields {
		f := &n.fields[i]
		fv, faddr, ok := w.field(f, v, addr)
		if !ok {
			if f.required {
				missing++
			}
			continue
		}
		present++
		w.path = append(w.path, pathTok{key: f.name, idx: -1})
		w.walk(f.node, fv, faddr)
		w.path = w.path[:len(w.path)-1]
	}
	if missing > 0 {
		var names []string
		for _, i := range n.required {
			if _, _, ok := w.field(&n.fields[i], v, addr); !ok {
				names = append(names, n.fields[i].name)
			}
		}
		w.add("required", msgRequired(names), valueText(v, addr))
	}
	if n.minProps >= 0 && present < n.minProps {
		w.add("minProperties", msgCount(present, n.minProps, "property", "at least"), valueText(v, addr))
	}
	if n.maxProps >= 0 && present > n.maxProps {
		w.add("maxProperties", msgCount(present, n.maxProps, "property", "at most"), valueText(v, addr))
	}
}

// field finds a struct field as encoding/json does and reports whether it
// is written at all: not behind a nil embedded pointer, not omitted.
func (w *walker) field(f *planField, v reflect.Value, addr bool) (reflect.Value, bool, bool) {
	for _, i := range f.index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, false, false
			}
			v, addr = v.Elem(), true
		}
		v = v.Field(i)
	}
	if f.omitEmpty && isEmptyValue(v) || f.omitZero && w.isZero(f, v) {
		return v, false, false
	}
	return v, addr, true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero applies omitzero as encoding/json does, including a type's own
// IsZero method; a panic there is reported, not propagated.
func (w *walker) isZero(f *planField, v reflect.Value) (zero bool) {
	switch f.zero {
	case zeroReflect:
		return v.IsZero()
	case zeroTime:
		t, _ := reflect.TypeAssert[time.Time](v)
		return t.IsZero()
	}
	defer func() {
		if p := recover(); p != nil {
			w.viol = append(w.viol, Violation{Path: w.pointer() + "/" + escapeToken(f.name), Keyword: "marshal",
				Message: msgMarshal(&panicError{where: typeName(f.typ) + ".IsZero", value: p})})
			zero = false
		}
	}()
	switch f.zero {
	case zeroIface:
		return v.IsNil() || v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil() || v.Interface().(isZeroer).IsZero()
	case zeroPtr:
		return v.IsNil() || v.Interface().(isZeroer).IsZero()
	}
	if v.CanAddr() {
		return v.Addr().Interface().(isZeroer).IsZero()
	}
	if f.zero == zeroValue {
		return v.Interface().(isZeroer).IsZero()
	}
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	return c.Interface().(isZeroer).IsZero()
}

// Unix times of 0000-01-01 and 10000-01-01, in UTC.
const unixYear0, unixYear10000 = -62167219200, 253402300800

// timeEncodable mirrors Time.MarshalJSON: a four-digit year and a zone
// offset under 24 hours. The year test is on seconds rather than
// t.Year(), which works out the calendar date: the time package computes
// the year from the local Unix seconds plus a constant, wrapping in 64
// bits, and the year grows with that sum, so one unsigned range check
// over the same wrapping arithmetic says the same (TestTimeEncodable
// covers the extremes).
func timeEncodable(t time.Time) bool {
	_, off := t.Zone()
	if uint64(t.Unix()+int64(off)-unixYear0) >= unixYear10000-unixYear0 {
		return false
	}
	zone := off / 60
	if zone < 0 {
		zone = -zone
	}
	return zone/60 < 24
}

func timeError(t time.Time) error {
	_, err := t.MarshalJSON()
	return err
}
