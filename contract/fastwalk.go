package contract

import (
	"math"
	"reflect"
	"slices"
	"time"
	"unsafe"
)

// The fast route answers one question, "is this value certainly valid?",
// reading the value in place through precomputed offsets instead of
// reflect.Value: no per-field reflection, no path stack, no messages. It
// covers the "pure" part of the plan (scalars, strings, times, structs,
// slices, arrays, pointers), where nothing needs the value's address or
// an interface: no marshalers, maps, interfaces or IsZero methods. A no
// from it is never reported: the walker walks that subtree again with
// reflect, which is the one place violations are built, so the messages
// cannot drift and the fast route only has to be sound ("yes" means the
// reflective walk finds nothing). TestFastRouteAgrees holds it to more:
// on pure plans it says yes exactly when the walk finds nothing.
//
// It never lets the pointer escape, so Check can run it on its argument
// where the plan has no Validate method to call, without copying the value.

// sliceHeader is the layout of every Go slice (see reflect.SliceHeader).
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// okAt reports whether the value of n's type at p certainly passes n.
// depth counts pointers and containers above, as walker.depth does.
func okAt(n *node, p unsafe.Pointer, depth int) bool {
	// Most nodes are strings and structs: two predictable branches cost
	// less than the switch's jump table (measured, about 5% of a Check).
	if n.op == opString {
		return n.stringOK(*(*string)(p))
	}
	if n.op == opStruct {
		return n.structOK(p, depth)
	}
	switch n.op {
	case opInt:
		if !n.typeOK {
			return false
		}
		x := loadInt(n.kind, p)
		if n.hasEnum && !slices.Contains(n.enumInt, x) {
			return false
		}
		for i := range n.ints {
			if !n.ints[i].passInt(x) {
				return false
			}
		}
		return true
	case opUint:
		if !n.typeOK {
			return false
		}
		x := loadUint(n.kind, p)
		if n.hasEnum && !slices.Contains(n.enumUint, x) {
			return false
		}
		for i := range n.ints {
			if !n.ints[i].passUint(x) {
				return false
			}
		}
		return true
	case opBool:
		b := *(*bool)(p)
		return n.typeOK && (!n.hasEnum || b && n.enumTrue || !b && n.enumFalse)
	case opFloat:
		return n.floatOK(p)
	case opTime:
		t := (*time.Time)(p)
		if !timeEncodable(*t) {
			return false
		}
		if n.plainTime && n.typeOK {
			return true
		}
		return n.stringOK(t.Format(time.RFC3339Nano))
	case opSlice:
		h := (*sliceHeader)(p)
		if h.data == nil {
			return n.nullOK
		}
		if depth >= maxRefDepth {
			return false // the walker hands this to encoding/json
		}
		return n.itemsOK(h.data, h.len, depth)
	case opArray:
		return n.itemsOK(p, n.length, depth)
	case opPtr:
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return n.nullOK
		}
		if depth >= maxRefDepth {
			return false
		}
		return okAt(n.elem, q, depth+1)
	case opAnything:
		return true // pure only when encoding/json cannot refuse it
	}
	return false
}

func (n *node) structOK(p unsafe.Pointer, depth int) bool {
	if !n.typeOK {
		return false
	}
	present := 0
	for i := range n.ffields {
		f := &n.ffields[i]
		fp := unsafe.Add(p, f.off)
		if f.hops != nil {
			fp = f.follow(fp)
		}
		if fp == nil || f.omit != omitNever && f.omitted(fp) {
			if f.required {
				return false
			}
			continue
		}
		present++
		if !okAt(f.node, fp, depth) {
			return false
		}
	}
	return (n.minProps < 0 || present >= n.minProps) && (n.maxProps < 0 || present <= n.maxProps)
}

func (n *node) itemsOK(data unsafe.Pointer, l, depth int) bool {
	if !n.typeOK || n.minItems >= 0 && l < n.minItems || n.maxItems >= 0 && l > n.maxItems {
		return false
	}
	if n.elem.op == opAnything {
		return true
	}
	for i := range l {
		if !okAt(n.elem, unsafe.Add(data, uintptr(i)*n.size), depth+1) {
			return false
		}
	}
	return true
}

func (n *node) floatOK(p unsafe.Pointer) bool {
	var x float64
	if n.kind == reflect.Float32 {
		x = float64(*(*float32)(p))
	} else {
		x = *(*float64)(p)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) || !n.typeOK && !(n.intOnly && math.Trunc(x) == x) {
		return false
	}
	for i := range n.floats {
		if !n.floats[i].pass(x) {
			return false
		}
	}
	return true
}

// fastField is what the fast route needs of a struct field, packed.
type fastField struct {
	off      uintptr   // the field's offset in the struct...
	hops     []uintptr // ...then, per embedded pointer, dereference and add
	node     *node
	kind     reflect.Kind // of the declared type
	omit     omitMode
	required bool
}

// omitMode is omitempty and omitzero worked out for the field's kind.
type omitMode uint8

const (
	omitNever    omitMode = iota
	omitBits              // scalar, string or pointer: empty and zero coincide
	omitNoItems           // slice under omitempty: no items (nil included)
	omitNil               // slice under omitzero alone
	omitAlways            // zero-length array under omitempty
	omitZeroTime          // time.Time under omitzero: its IsZero
)

// follow goes through the embedded pointers on the way to the field; nil
// when one is nil, and encoding/json leaves the field out.
func (f *fastField) follow(p unsafe.Pointer) unsafe.Pointer {
	for _, off := range f.hops {
		p = *(*unsafe.Pointer)(p)
		if p == nil {
			return nil
		}
		p = unsafe.Add(p, off)
	}
	return p
}

func (f *fastField) omitted(p unsafe.Pointer) bool {
	switch f.omit {
	case omitNoItems:
		return (*sliceHeader)(p).len == 0
	case omitNil:
		return (*sliceHeader)(p).data == nil
	case omitAlways:
		return true
	case omitZeroTime:
		return (*time.Time)(p).IsZero()
	}
	switch f.kind {
	case reflect.String:
		return len(*(*string)(p)) == 0
	case reflect.Pointer:
		return *(*unsafe.Pointer)(p) == nil
	case reflect.Bool:
		return !*(*bool)(p)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return loadInt(f.kind, p) == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return loadUint(f.kind, p) == 0
	case reflect.Float32:
		return *(*float32)(p) == 0 // -0 too, as reflect.Value.IsZero says
	case reflect.Float64:
		return *(*float64)(p) == 0
	}
	return false
}

func loadInt(k reflect.Kind, p unsafe.Pointer) int64 {
	switch k {
	case reflect.Int8:
		return int64(*(*int8)(p))
	case reflect.Int16:
		return int64(*(*int16)(p))
	case reflect.Int32:
		return int64(*(*int32)(p))
	case reflect.Int64:
		return *(*int64)(p)
	}
	return int64(*(*int)(p))
}

func loadUint(k reflect.Kind, p unsafe.Pointer) uint64 {
	switch k {
	case reflect.Uint8:
		return uint64(*(*uint8)(p))
	case reflect.Uint16:
		return uint64(*(*uint16)(p))
	case reflect.Uint32:
		return uint64(*(*uint32)(p))
	case reflect.Uint64:
		return *(*uint64)(p)
	case reflect.Uintptr:
		return uint64(*(*uintptr)(p))
	}
	return uint64(*(*uint)(p))
}

// preparePure fills in what the fast route reads (kinds, sizes, field
// offsets, pattern matchers) and marks the pure nodes: those whose whole
// subtree it decides. Recursive types make the plan a graph, so purity is
// the greatest fixed point: assume it, then withdraw it until stable.
func preparePure(root *node) {
	all := nodes(root)
	for _, n := range all {
		n.kind = n.typ.Kind()
		switch n.op {
		case opSlice:
			n.size = n.typ.Elem().Size()
		case opArray:
			n.size, n.length = n.typ.Elem().Size(), n.typ.Len()
		case opString, opTime:
			if n.pattern != nil {
				n.match = compilePattern(n.pattern)
			}
		case opStruct:
			n.ffields = make([]fastField, len(n.fields))
			for i := range n.fields {
				n.ffields[i] = packField(n.typ, &n.fields[i])
			}
		}
		n.nullOK = len(n.nullViol) == 0
		n.pure = pureLocally(n)
	}
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			if !n.pure {
				continue
			}
			ok := n.elem == nil || n.elem.pure
			for _, f := range n.fields {
				ok = ok && f.node.pure
			}
			if !ok {
				n.pure, changed = false, true
			}
		}
	}
}

func pureLocally(n *node) bool {
	switch n.op {
	case opBool, opInt, opUint, opFloat, opString, opTime, opSlice, opArray, opPtr:
		return true
	case opAnything:
		return !n.canFail
	case opStruct:
		for i, f := range n.fields {
			if f.quoted || n.ffields[i].omit == omitUnknown {
				return false
			}
		}
		return true
	}
	return false
}

// omitUnknown marks a field whose omission needs more than its bits: an
// IsZero method, or reflect.Value.IsZero on a struct or array.
const omitUnknown omitMode = 255

// packField turns the field's index path into offsets (into the struct,
// then for each embedded pointer on the way, a dereference and the next
// offset) and its omit options into one mode, as isEmptyValue and
// reflect.Value.IsZero decide them for its kind.
func packField(t reflect.Type, pf *planField) fastField {
	var offs []uintptr
	acc := uintptr(0)
	for _, i := range pf.index {
		if t.Kind() == reflect.Pointer {
			offs = append(offs, acc)
			acc, t = 0, t.Elem()
		}
		sf := t.Field(i)
		acc += sf.Offset
		t = sf.Type
	}
	offs = append(offs, acc)
	f := fastField{off: offs[0], node: pf.node, kind: pf.typ.Kind(), omit: omitModeOf(pf), required: pf.required}
	if len(offs) > 1 {
		f.hops = offs[1:]
	}
	return f
}

func omitModeOf(pf *planField) omitMode {
	if !pf.omitEmpty && !pf.omitZero {
		return omitNever
	}
	switch pf.typ.Kind() {
	case reflect.String, reflect.Pointer, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		if pf.omitZero && pf.zero != zeroReflect {
			return omitUnknown
		}
		return omitBits
	case reflect.Slice:
		switch {
		case pf.omitZero && pf.zero != zeroReflect:
			return omitUnknown
		case pf.omitEmpty:
			return omitNoItems // a nil slice has no items: omitzero adds nothing
		}
		return omitNil
	case reflect.Array:
		switch {
		case pf.omitZero:
			return omitUnknown
		case pf.typ.Len() == 0:
			return omitAlways
		}
		return omitNever // a struct or array with items is never empty
	case reflect.Struct:
		switch {
		case !pf.omitZero:
			return omitNever
		case pf.zero == zeroTime:
			return omitZeroTime
		}
	}
	return omitUnknown
}
