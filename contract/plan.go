package contract

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The plan is compiled once per type from the compiled schema and the Go
// type together: each node knows the Go kind it will meet and the schema
// keywords that apply there, pre-digested (bounds as integers, patterns and
// formats as the validator compiled them, the verdict for null worked out
// in advance). Whatever the plan does not understand becomes an opFallback
// node, which marshals that subtree and hands it to the validator.

type op uint8

const (
	opFallback op = iota // marshal the subtree, validate it generically
	opAnything           // schema true: only encodability matters
	opBool
	opInt
	opUint
	opFloat
	opString
	opTime
	opStruct
	opSlice
	opArray
	opMap
	opPtr
	opCondAddr // a pointer-receiver marshaler: fallback when addressable, alt otherwise
)

type node struct {
	// First and together, what the fast route reads: it visits every node
	// of a valid value, and a node spans several cache lines.
	op        op
	typeOK    bool // the kind's JSON type passes "type"
	intOnly   bool // a float where "type" wants an integer
	hasEnum   bool
	enumTrue  bool
	enumFalse bool
	plainTime bool         // a time.Time under {type: string, format: date-time}
	pure      bool         // okAt decides this whole subtree (fastwalk.go)
	nullOK    bool         // a null here violates nothing
	kind      reflect.Kind // n.typ.Kind(), for the loads

	minLen, maxLen int // -1 when absent
	enumStr        []string
	fast           fastFormat
	match          *fastPattern // the pattern without a regexp machine, or nil
	format         *jsonschema.Format
	pattern        jsonschema.Regexp

	elem               *node
	size               uintptr // element size of a slice or array
	length             int     // array length
	minItems, maxItems int
	ffields            []fastField // the fields, packed for the fast route
	minProps, maxProps int

	enumInt  []int64
	enumUint []uint64
	ints     []intBound
	floats   []floatBound

	// The rest is for building the plan and for the reporting walk.
	typ      reflect.Type
	sch      *jsonschema.Schema
	typeGot  string      // the kind's JSON type name, for messages
	nullViol []Violation // what a null here violates, paths relative
	bits     int
	fields   []planField
	required []int
	addFalse bool
	alt      *node
	quoted   bool
	validate validateMode
	deep     bool         // Validate is called here or below
	canFail  bool         // opAnything: encoding/json may refuse the value
	wrapper  reflect.Type // quoted fields: struct{V T `json:"v,string"`}
}

type planField struct {
	jsonField
	node     *node
	required bool
}

type nodeKey struct {
	t      reflect.Type
	s      *jsonschema.Schema
	noAddr bool
}

type planBuilder struct {
	memo map[nodeKey]*node
	err  error
}

func buildPlan(t reflect.Type, s *jsonschema.Schema) (*node, error) {
	b := &planBuilder{memo: map[nodeKey]*node{}}
	n := b.build(t, s, false)
	if b.err != nil {
		return nil, b.err
	}
	markDeep(n)
	preparePure(n)
	return n, nil
}

func (b *planBuilder) build(t reflect.Type, s *jsonschema.Schema, noAddr bool) *node {
	s = resolveRef(s)
	key := nodeKey{t, s, noAddr}
	if n, ok := b.memo[key]; ok {
		return n
	}
	n := &node{typ: t, sch: s, minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
	b.memo[key] = n
	n.validate = validateModeOf(t)
	b.fill(n, noAddr)
	return n
}

// resolveRef follows a bare "$ref" (the only kind invopop writes) to its
// target; the validator reports the target's violations at the same place.
func resolveRef(s *jsonschema.Schema) *jsonschema.Schema {
	for range 64 {
		if s == nil || s.Ref == nil || !onlyRef(s) {
			return s
		}
		s = s.Ref
	}
	return s
}

func onlyRef(s *jsonschema.Schema) bool {
	cp := *s
	cp.Ref = nil
	return simpleSchema(&cp) && cp.Types == nil && cp.Enum == nil && cp.Format == nil &&
		cp.MinLength == nil && cp.MaxLength == nil && cp.Pattern == nil &&
		cp.Minimum == nil && cp.Maximum == nil && cp.ExclusiveMinimum == nil && cp.ExclusiveMaximum == nil &&
		cp.MinItems == nil && cp.MaxItems == nil && cp.Items2020 == nil &&
		cp.MinProperties == nil && cp.MaxProperties == nil && len(cp.Required) == 0 &&
		len(cp.Properties) == 0 && cp.AdditionalProperties == nil
}

// simpleSchema reports whether s uses only keywords the plan implements.
func simpleSchema(s *jsonschema.Schema) bool {
	return s.Bool == nil && s.DraftVersion >= 2020 && s.Ref == nil && s.RecursiveRef == nil && s.DynamicRef == nil &&
		s.Const == nil && s.Not == nil && len(s.AllOf) == 0 && len(s.AnyOf) == 0 && len(s.OneOf) == 0 &&
		s.If == nil && s.Then == nil && s.Else == nil &&
		s.PropertyNames == nil && len(s.PatternProperties) == 0 && len(s.Dependencies) == 0 &&
		len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 && s.UnevaluatedProperties == nil &&
		!s.UniqueItems && s.Contains == nil && s.MinContains == nil && s.MaxContains == nil &&
		s.Items == nil && s.AdditionalItems == nil && len(s.PrefixItems) == 0 && s.UnevaluatedItems == nil &&
		s.ContentEncoding == nil && s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.MultipleOf == nil && len(s.Extensions) == 0
}

func (b *planBuilder) fill(n *node, noAddr bool) {
	t, s := n.typ, n.sch
	if s == nil || s.Bool != nil && *s.Bool {
		n.op = opAnything
		n.canFail = mayFailToEncode(t, map[reflect.Type]bool{})
		return
	}
	if !simpleSchema(s) {
		return // opFallback
	}
	if t.Kind() == reflect.Pointer {
		// encoding/json writes null for nil and otherwise the element, whose
		// own marshaler (if any) sees an addressable value: opPtr says so.
		n.op = opPtr
		b.setNull(n)
		n.elem = b.build(t.Elem(), s, false)
		return
	}
	if !noAddr && t != timeType {
		pt := reflect.PointerTo(t)
		if pt.Implements(marshalerType) && !t.Implements(marshalerType) ||
			!pt.Implements(marshalerType) && pt.Implements(textMarshalerType) && !t.Implements(textMarshalerType) {
			n.op = opCondAddr
			n.alt = b.build(t, s, true)
			n.validate = validateNone // the alternative calls it
			return
		}
	}
	if t == timeType {
		b.fillString(n, "string")
		n.op = opTime
		n.plainTime = n.format != nil && n.format.Name == "date-time" && !n.hasEnum && n.minLen < 0 && n.maxLen < 0 && n.pattern == nil
		return
	}
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) || t == numberType {
		return // opFallback
	}
	switch t.Kind() {
	case reflect.Bool:
		n.op = opBool
		b.setType(n, "boolean")
		b.setEnum(n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.op = opInt
		b.fillInt(n, true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n.op = opUint
		b.fillInt(n, false)
	case reflect.Float32, reflect.Float64:
		if s.Enum != nil {
			return // opFallback: float equality on JSON text is rare enough
		}
		n.op = opFloat
		n.bits = t.Bits()
		b.setType(n, "number")
		for _, k := range numKeywords(s.Minimum, s.ExclusiveMinimum, s.Maximum, s.ExclusiveMaximum) {
			n.floats = append(n.floats, compileFloatBound(k, n.bits))
		}
	case reflect.String:
		n.op = opString
		b.fillString(n, "string")
	case reflect.Struct:
		if s.Enum != nil {
			return
		}
		n.op = opStruct
		b.fillStruct(n)
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Uint8 && !reflect.PointerTo(e).Implements(marshalerType) && !reflect.PointerTo(e).Implements(textMarshalerType) {
			return // opFallback: base64 text
		}
		n.op = opSlice
		b.fillArray(n)
	case reflect.Array:
		n.op = opArray
		b.fillArray(n)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || s.Enum != nil || len(s.Properties) > 0 || len(s.Required) > 0 {
			return
		}
		n.op = opMap
		b.setType(n, "object")
		b.setNull(n)
		n.minProps, n.maxProps = intOr(s.MinProperties), intOr(s.MaxProperties)
		switch a := s.AdditionalProperties.(type) {
		case bool:
			n.addFalse = !a
		case *jsonschema.Schema:
			n.elem = b.build(t.Elem(), a, false)
		}
		if n.elem == nil {
			n.elem = b.build(t.Elem(), nil, false)
		}
	}
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// setType records whether a value of JSON type got passes "type".
func (b *planBuilder) setType(n *node, got string) {
	n.typeGot = got
	if n.sch.Types == nil {
		n.typeOK = true
		return
	}
	want := n.sch.Types.ToStrings()
	n.typeOK = slices.Contains(want, got)
	if !n.typeOK && got == "number" && slices.Contains(want, "integer") {
		if n.op == opFloat {
			n.intOnly = true
		} else {
			n.typeOK = true // an integer kind is always an integer
		}
	}
}

// setNull works out once what a null (nil pointer, slice or map) violates.
func (b *planBuilder) setNull(n *node) {
	if err := n.sch.Validate(nil); err != nil {
		n.nullViol = flatten(nil, err, nil, "")
	}
}

func (b *planBuilder) setEnum(n *node) {
	if n.sch.Enum == nil {
		return
	}
	n.hasEnum = true
	for _, v := range n.sch.Enum.Values {
		switch v := v.(type) {
		case string:
			n.enumStr = append(n.enumStr, v)
		case bool:
			n.enumTrue = n.enumTrue || v
			n.enumFalse = n.enumFalse || !v
		}
	}
	n.enumInt, n.enumUint = enumInts(n.sch.Enum.Values)
}

func (b *planBuilder) fillInt(n *node, signed bool) {
	b.setType(n, "number")
	b.setEnum(n)
	s := n.sch
	for _, k := range numKeywords(s.Minimum, s.ExclusiveMinimum, s.Maximum, s.ExclusiveMaximum) {
		n.ints = append(n.ints, compileIntBound(k, signed))
	}
}

func (b *planBuilder) fillString(n *node, got string) {
	b.setType(n, got)
	b.setEnum(n)
	s := n.sch
	n.minLen, n.maxLen = intOr(s.MinLength), intOr(s.MaxLength)
	n.pattern = s.Pattern
	n.format = s.Format
	if s.Format != nil {
		n.fast = fastFormats[s.Format.Name]
	}
}

func (b *planBuilder) fillArray(n *node) {
	b.setType(n, "array")
	if n.op == opSlice {
		b.setNull(n)
	}
	s := n.sch
	n.minItems, n.maxItems = intOr(s.MinItems), intOr(s.MaxItems)
	n.elem = b.build(n.typ.Elem(), s.Items2020, false)
}

func (b *planBuilder) fillStruct(n *node) {
	b.setType(n, "object")
	s := n.sch
	n.minProps, n.maxProps = intOr(s.MinProperties), intOr(s.MaxProperties)
	fields := jsonFields(n.typ)
	byName := map[string]int{}
	for _, f := range fields {
		pf := planField{jsonField: f}
		prop, ok := s.Properties[f.name]
		switch a := s.AdditionalProperties.(type) {
		case bool:
			if !ok && !a {
				b.fail(fmt.Errorf("field %s.%s is written to JSON as %q, but the schema has no such property and allows no others (exclude it with json:\"-\", not just jsonschema:\"-\")",
					typeName(n.typ), fieldPath(n.typ, f.index), f.name))
				return
			}
		case *jsonschema.Schema:
			if !ok {
				prop = a
			}
		}
		switch {
		case f.quoted:
			pf.node = &node{op: opFallback, typ: f.typ, sch: prop, quoted: true, validate: validateModeOf(f.typ),
				wrapper: reflect.StructOf([]reflect.StructField{{Name: "V", Type: f.typ, Tag: `json:"v,string"`}})}
		default:
			pf.node = b.build(f.typ, prop, false)
		}
		byName[f.name] = len(n.fields)
		n.fields = append(n.fields, pf)
	}
	for _, r := range s.Required {
		i, ok := byName[r]
		if !ok {
			b.fail(fmt.Errorf("the schema of %s requires property %q, which no field writes", typeName(n.typ), r))
			return
		}
		n.fields[i].required = true
		n.required = append(n.required, i)
	}
}

func (b *planBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// nodes lists every node reachable from root once: recursive types make
// the plan a graph.
func nodes(root *node) []*node {
	var all []*node
	seen := map[*node]bool{}
	var collect func(*node)
	collect = func(n *node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		all = append(all, n)
		collect(n.elem)
		collect(n.alt)
		for _, f := range n.fields {
			collect(f.node)
		}
	}
	collect(root)
	return all
}

// markDeep flags the nodes at or above a Validate method, so that the
// Validate pass skips subtrees with nothing to call. Recursive types make
// the plan a graph, hence the fixed point.
func markDeep(root *node) {
	all := nodes(root)
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			deep := n.validate != validateNone ||
				n.elem != nil && n.elem.deep || n.alt != nil && n.alt.deep
			for _, f := range n.fields {
				deep = deep || f.node.deep
			}
			if deep && !n.deep {
				n.deep, changed = true, true
			}
		}
	}
}

// mayFailToEncode reports whether encoding/json could refuse a value of t:
// NaN and infinite floats, out-of-range times, failing marshalers, and
// whatever an interface may hold.
func mayFailToEncode(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if implementsAny(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayFailToEncode(t.Elem(), seen)
	case reflect.Map:
		return t.Key().Kind() != reflect.String || mayFailToEncode(t.Elem(), seen)
	case reflect.Struct:
		for _, f := range jsonFields(t) {
			if f.quoted || mayFailToEncode(f.typ, seen) {
				return true
			}
		}
		return false
	}
	return true
}
