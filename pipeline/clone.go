package pipeline

import (
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Typed values in memory. A run submitted in this process and handed to
// its worker (handoff.go) starts with the submitted value, and a waiter of
// this process gets the value the last step returned (wait.go), without
// the JSON round trip through the store. Both are copies, made by a
// cloner, for two reasons: the caller may change its value after Submit
// returns (and a step may keep and change what it returned), and the value
// a step or a waiter sees must be the one it would have read back from the
// store, where the run's record is JSON. So a clone is what encoding/json
// would give after encoding the value and decoding it again: fields JSON
// ignores (unexported, `json:"-"`) are zero, an omitempty field that was
// empty is zero, a value held in an interface is what JSON decodes into it
// (a number in an `any` is a float64), and a time.Time loses its monotonic
// reading. A type the cloner cannot copy that faithfully (one with its own
// JSON or text methods, embedded fields, omitzero, a string that is not
// valid UTF-8, which encoding replaces) is not cloned: the run reads the
// value from the store as before.

// errUncloneable says that a value cannot be copied as JSON would copy it;
// the caller reads it from the store instead.
var errUncloneable = errors.New("pipeline: value not cloneable")

// cloner copies src into dst, a settable zero value of the same type.
type cloner func(dst, src reflect.Value) error

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshaler     = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler   = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler     = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerTy = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// clonerOf returns the cloner of values of type T, or nil when T is not
// cloneable (the run then reads its values from the store). A stage builds
// its cloners once.
func clonerOf[T any]() func(T) (T, bool) {
	c := clonerFor(reflect.TypeFor[T](), map[reflect.Type]*cloner{})
	if c == nil {
		return nil
	}
	return func(v T) (T, bool) {
		var out T
		if err := (*c)(reflect.ValueOf(&out).Elem(), reflect.ValueOf(&v).Elem()); err != nil {
			var zero T
			return zero, false
		}
		return out, true
	}
}

// clonerFor builds the cloner of t; nil when t is not cloneable. built
// holds the cloners of this build, those in progress included, so that a
// recursive type refers to its own. A type that is not cloneable makes
// every type holding it not cloneable, so when the root's cloner is built
// every cloner it reaches is complete.
func clonerFor(t reflect.Type, built map[reflect.Type]*cloner) *cloner {
	if c, ok := built[t]; ok {
		return c
	}
	c := new(cloner)
	built[t] = c
	fn := buildCloner(t, built)
	if fn == nil {
		built[t] = nil
		return nil
	}
	*c = fn
	return c
}

// custom says whether JSON encodes or decodes t with its own methods.
func custom(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, i := range []reflect.Type{jsonMarshaler, jsonUnmarshaler, textMarshaler, textUnmarshalerTy} {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return false
}

func buildCloner(t reflect.Type, built map[reflect.Type]*cloner) cloner {
	if t == timeType {
		// What encoding and decoding gives: the same instant and offset,
		// without the monotonic reading.
		return func(dst, src reflect.Value) error {
			t := src.Interface().(time.Time)
			if t.Location() == time.UTC && t.Year() >= 0 && t.Year() <= 9999 {
				// RFC 3339 in UTC decodes to UTC: the instant alone.
				dst.Set(reflect.ValueOf(t.Round(0)))
				return nil
			}
			b, err := t.MarshalJSON()
			if err != nil {
				return errUncloneable
			}
			var u time.Time
			if err := u.UnmarshalJSON(b); err != nil {
				return errUncloneable
			}
			dst.Set(reflect.ValueOf(u))
			return nil
		}
	}
	if t.Kind() != reflect.Interface && custom(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(dst, src reflect.Value) error { dst.Set(src); return nil }
	case reflect.Float32, reflect.Float64:
		return func(dst, src reflect.Value) error {
			if f := src.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				return errUncloneable
			}
			dst.Set(src)
			return nil
		}
	case reflect.String:
		return func(dst, src reflect.Value) error {
			if !utf8.ValidString(src.String()) {
				return errUncloneable
			}
			dst.Set(src)
			return nil
		}
	case reflect.Interface:
		// What JSON decodes into the interface is what the value is.
		return func(dst, src reflect.Value) error {
			if src.IsNil() {
				return nil
			}
			b, err := json.Marshal(src.Interface())
			if err != nil || strings.Contains(string(b), `\ufffd`) {
				return errUncloneable
			}
			if err := json.Unmarshal(b, dst.Addr().Interface()); err != nil {
				return errUncloneable
			}
			return nil
		}
	case reflect.Pointer:
		elem := clonerFor(t.Elem(), built)
		if elem == nil {
			return nil
		}
		et := t.Elem()
		return func(dst, src reflect.Value) error {
			if src.IsNil() {
				return nil
			}
			n := reflect.New(et)
			if err := (*elem)(n.Elem(), src.Elem()); err != nil {
				return err
			}
			dst.Set(n)
			return nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !custom(t.Elem()) {
			// Base64 in JSON: the bytes themselves.
			return func(dst, src reflect.Value) error {
				if src.IsNil() {
					return nil
				}
				n := reflect.MakeSlice(t, src.Len(), src.Len())
				reflect.Copy(n, src)
				dst.Set(n)
				return nil
			}
		}
		elem := clonerFor(t.Elem(), built)
		if elem == nil {
			return nil
		}
		return func(dst, src reflect.Value) error {
			if src.IsNil() {
				return nil
			}
			n := reflect.MakeSlice(t, src.Len(), src.Len())
			for i := range src.Len() {
				if err := (*elem)(n.Index(i), src.Index(i)); err != nil {
					return err
				}
			}
			dst.Set(n)
			return nil
		}
	case reflect.Array:
		elem := clonerFor(t.Elem(), built)
		if elem == nil {
			return nil
		}
		return func(dst, src reflect.Value) error {
			for i := range src.Len() {
				if err := (*elem)(dst.Index(i), src.Index(i)); err != nil {
					return err
				}
			}
			return nil
		}
	case reflect.Map:
		return mapCloner(t, built)
	case reflect.Struct:
		return structCloner(t, built)
	}
	// Channels, functions, complex numbers: JSON has no form for them.
	return nil
}

func mapCloner(t reflect.Type, built map[reflect.Type]*cloner) cloner {
	kt := t.Key()
	if custom(kt) {
		return nil
	}
	var keyOK func(k reflect.Value) bool
	switch kt.Kind() {
	case reflect.String:
		keyOK = func(k reflect.Value) bool { return utf8.ValidString(k.String()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		keyOK = func(reflect.Value) bool { return true }
	default:
		return nil
	}
	elem := clonerFor(t.Elem(), built)
	if elem == nil {
		return nil
	}
	et := t.Elem()
	return func(dst, src reflect.Value) error {
		if src.IsNil() {
			return nil
		}
		n := reflect.MakeMapWithSize(t, src.Len())
		// One key and one value, reused: SetMapIndex copies them in.
		k, v, sv := reflect.New(kt).Elem(), reflect.New(et).Elem(), reflect.New(et).Elem()
		it := src.MapRange()
		for it.Next() {
			k.SetIterKey(it)
			if !keyOK(k) {
				return errUncloneable
			}
			sv.SetIterValue(it)
			v.SetZero()
			if err := (*elem)(v, sv); err != nil {
				return err
			}
			n.SetMapIndex(k, v)
		}
		dst.Set(n)
		return nil
	}
}

// fieldCloner copies one field JSON encodes.
type fieldCloner struct {
	index     int
	omitEmpty bool
	c         *cloner
}

func structCloner(t reflect.Type, built map[reflect.Type]*cloner) cloner {
	var fields []fieldCloner
	names := map[string]bool{}
	// A struct of exported numbers, booleans and strings alone is copied
	// whole, its strings and floats checked.
	flat := true
	var strs, floats []int
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			// Embedded fields' promotion rules are JSON's own: not
			// repeated here.
			return nil
		}
		if !f.IsExported() {
			flat = false
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			flat = false
			continue
		}
		switch k := f.Type.Kind(); {
		case k == reflect.String:
			strs = append(strs, i)
		case k == reflect.Float32 || k == reflect.Float64:
			floats = append(floats, i)
		case k == reflect.Bool || k >= reflect.Int && k <= reflect.Uintptr:
		default:
			flat = false
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if names[name] {
			// JSON drops fields whose names collide.
			return nil
		}
		names[name] = true
		fc := fieldCloner{index: i}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "omitempty":
				fc.omitEmpty = true
			case "omitzero":
				return nil
			}
		}
		if fc.c = clonerFor(f.Type, built); fc.c == nil {
			return nil
		}
		fields = append(fields, fc)
	}
	if flat {
		return func(dst, src reflect.Value) error {
			for _, i := range strs {
				if !utf8.ValidString(src.Field(i).String()) {
					return errUncloneable
				}
			}
			for _, i := range floats {
				if f := src.Field(i).Float(); math.IsNaN(f) || math.IsInf(f, 0) {
					return errUncloneable
				}
			}
			dst.Set(src)
			return nil
		}
	}
	return func(dst, src reflect.Value) error {
		for _, f := range fields {
			sv := src.Field(f.index)
			if f.omitEmpty && emptyValue(sv) {
				continue
			}
			if err := (*f.c)(dst.Field(f.index), sv); err != nil {
				return err
			}
		}
		return nil
	}
}

// emptyValue is encoding/json's test for omitempty.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
