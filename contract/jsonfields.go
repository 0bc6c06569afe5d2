package contract

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The typed plan must see a struct exactly as encoding/json writes it, so
// this file repeats encoding/json's field rules (typeFields in encode.go):
// embedded structs are flattened, the shallowest field of a name wins,
// a tagged field beats an untagged one at the same depth, and two equal
// rivals cancel out.

type jsonField struct {
	name      string
	tagged    bool
	index     []int
	typ       reflect.Type // the field's declared type
	omitEmpty bool
	omitZero  bool
	quoted    bool // the ",string" option, which writes scalars as strings
	zero      zeroMode
}

// zeroMode says how encoding/json decides that an omitzero field is zero.
type zeroMode uint8

const (
	zeroReflect zeroMode = iota // reflect.Value.IsZero
	zeroIface                   // interface holding an IsZeroer
	zeroPtr                     // pointer type with IsZero
	zeroValue                   // IsZero on the value's method set
	zeroAddr                    // IsZero on the pointer's method set only
	zeroTime                    // time.Time, called without boxing
)

type isZeroer interface{ IsZero() bool }

var (
	isZeroerType      = reflect.TypeFor[isZeroer]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	timeType          = reflect.TypeFor[time.Time]()
	numberType        = reflect.TypeFor[json.Number]()
)

func jsonFields(t reflect.Type) []jsonField {
	current := []jsonField{}
	next := []jsonField{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []jsonField

	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := 0; i < f.typ.NumField(); i++ {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					t := sf.Type
					if t.Kind() == reflect.Pointer {
						t = t.Elem()
					}
					if !sf.IsExported() && t.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				index := make([]int, len(f.index)+1)
				copy(index, f.index)
				index[len(f.index)] = i

				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if hasOption(opts, "string") {
					switch ft.Kind() {
					case reflect.Bool,
						reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64,
						reflect.String:
						quoted = true
					}
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					fields = append(fields, jsonField{
						name:      name,
						tagged:    tagged,
						index:     index,
						typ:       sf.Type,
						omitEmpty: hasOption(opts, "omitempty"),
						omitZero:  hasOption(opts, "omitzero"),
						quoted:    quoted,
						zero:      zeroModeOf(sf.Type),
					})
					if count[f.typ] > 1 {
						// A second copy makes the dominance pass see the clash.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, jsonField{name: ft.Name(), index: index, typ: ft})
				}
			}
		}
	}

	slices.SortFunc(fields, func(a, b jsonField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return +1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for advance, i := 0, 0; i < len(fields); i += advance {
		fi := fields[i]
		for advance = 1; i+advance < len(fields); advance++ {
			if fields[i+advance].name != fi.name {
				break
			}
		}
		if advance == 1 {
			out = append(out, fi)
			continue
		}
		// Equal depth and equal taggedness: Go would call it ambiguous, and
		// encoding/json drops both.
		if len(fields[i].index) == len(fields[i+1].index) && fields[i].tagged == fields[i+1].tagged {
			continue
		}
		out = append(out, fi)
	}
	fields = out
	slices.SortFunc(fields, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return fields
}

func hasOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func zeroModeOf(t reflect.Type) zeroMode {
	switch {
	case t == timeType:
		return zeroTime
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return zeroIface
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return zeroPtr
	case t.Implements(isZeroerType):
		return zeroValue
	case reflect.PointerTo(t).Implements(isZeroerType):
		return zeroAddr
	}
	return zeroReflect
}

// checkEncodable reports why values of t cannot be written as JSON, naming
// the field or element on the way; nil when they can. Types with their own
// MarshalJSON or MarshalText are taken at their word.
func checkEncodable(t reflect.Type) error {
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type, where string) error
	visit = func(t reflect.Type, where string) error {
		if seen[t] {
			return nil
		}
		seen[t] = true
		if implementsAny(t) {
			return nil
		}
		bad := func(why string) error {
			return fmt.Errorf("%s (%s) %s", where, t, why)
		}
		switch t.Kind() {
		case reflect.Chan:
			return bad("is a channel, which has no JSON form")
		case reflect.Func:
			return bad("is a function, which has no JSON form")
		case reflect.Complex64, reflect.Complex128:
			return bad("is a complex number, which has no JSON form")
		case reflect.UnsafePointer:
			return bad("is an unsafe.Pointer, which has no JSON form")
		case reflect.Uintptr:
			return bad("is a uintptr, which has no JSON schema")
		case reflect.Pointer, reflect.Slice, reflect.Array:
			return visit(t.Elem(), where+"[elem]")
		case reflect.Map:
			k := t.Key()
			switch k.Kind() {
			case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			default:
				if !k.Implements(textMarshalerType) {
					return bad("has keys of type " + k.String() + ", which cannot be JSON object keys")
				}
			}
			return visit(t.Elem(), where+"[value]")
		case reflect.Struct:
			for _, f := range jsonFields(t) {
				if err := visit(f.typ, where+"."+fieldPath(t, f.index)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return visit(t, typeName(t))
}

func implementsAny(t reflect.Type) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return true
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		return pt.Implements(marshalerType) || pt.Implements(textMarshalerType)
	}
	return false
}

// fieldPath names a possibly promoted field by its Go names: "Base.ID".
func fieldPath(t reflect.Type, index []int) string {
	var names []string
	for _, i := range index {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		f := t.Field(i)
		names = append(names, f.Name)
		t = f.Type
	}
	return strings.Join(names, ".")
}
