package contract

import (
	"reflect"
	"runtime/debug"
)

// Validator is implemented by types with semantic checks beyond the
// schema. Check, Unmarshal and Decode call Validate on the value and on
// every nested value whose type has it (value or pointer receiver), once
// the schema checks pass.
type Validator interface{ Validate() error }

// The Validate pass runs once the schema checks pass: a type's Validate
// method may then rely on the shape the schema promises. It visits what the
// JSON holds (omitted fields and nil pointers are skipped), parents before
// children, and calls Validate where the type has it.

func (w *walker) validatePass(n *node, v reflect.Value) {
	if !n.deep || w.depth > maxRefDepth {
		return
	}
	if n.validate != validateNone {
		w.callValidate(n, v)
	}
	switch n.op {
	case opStruct:
		for i := range n.fields {
			f := &n.fields[i]
			if !f.node.deep {
				continue
			}
			fv, _, ok := w.field(f, v, true)
			if !ok {
				continue
			}
			w.path = append(w.path, pathTok{key: f.name, idx: -1})
			w.validatePass(f.node, fv)
			w.path = w.path[:len(w.path)-1]
		}
	case opSlice, opArray:
		if n.op == opSlice && v.IsNil() || !n.elem.deep {
			return
		}
		for i := 0; i < v.Len(); i++ {
			w.path = append(w.path, pathTok{idx: i})
			w.validatePass(n.elem, v.Index(i))
			w.path = w.path[:len(w.path)-1]
		}
	case opMap:
		if v.IsNil() || n.elem == nil || !n.elem.deep {
			return
		}
		k := reflect.New(n.typ.Key()).Elem()
		e := reflect.New(n.typ.Elem()).Elem()
		for it := v.MapRange(); it.Next(); {
			k.SetIterKey(it)
			e.SetIterValue(it)
			w.path = append(w.path, pathTok{key: k.String(), idx: -1})
			w.validatePass(n.elem, e)
			w.path = w.path[:len(w.path)-1]
		}
	case opPtr:
		if !v.IsNil() {
			w.depth++
			w.validatePass(n.elem, v.Elem())
			w.depth--
		}
	case opCondAddr:
		w.validatePass(n.alt, v)
	}
}

// callValidate calls the value's Validate method through its address when
// it has one, which needs no allocation, and turns what it returns (or a
// panic) into violations at the value's path.
func (w *walker) callValidate(n *node, v reflect.Value) {
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &panicError{where: typeName(n.typ) + ".Validate", value: p, stack: debug.Stack()}
			}
		}()
		var val Validator
		switch {
		case v.CanAddr():
			val = v.Addr().Interface().(Validator)
		case n.validate == validateValue:
			val = v.Interface().(Validator)
		default:
			c := reflect.New(v.Type())
			c.Elem().Set(v)
			val = c.Interface().(Validator)
		}
		return val.Validate()
	}()
	if err == nil {
		return
	}
	here := w.pointer()
	if ve, ok := asValidationError(err); ok && len(ve.Violations) > 0 {
		for _, v := range ve.Violations {
			v.Path = here + v.Path
			w.viol = append(w.viol, v)
		}
		w.omitted += ve.Omitted()
		if w.first == nil {
			w.first = ve.Err
		}
		return
	}
	w.viol = append(w.viol, Violation{Path: here, Keyword: "validate", Message: err.Error()})
	if w.first == nil {
		w.first = err
	}
}

type validateMode uint8

const (
	validateNone  validateMode = iota
	validateValue              // Validate has a value receiver
	validatePtr                // only *T has Validate
)

var validatorType = reflect.TypeFor[Validator]()

func validateModeOf(t reflect.Type) validateMode {
	switch {
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface:
		return validateNone
	case t.Implements(validatorType):
		return validateValue
	case reflect.PointerTo(t).Implements(validatorType):
		return validatePtr
	}
	return validateNone
}
