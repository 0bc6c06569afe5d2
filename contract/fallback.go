package contract

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fallback is the generic route, correct by construction: marshal the
// subtree exactly as encoding/json would inside the whole value, decode it
// with the validator's number-preserving decoder, and validate it against
// the subtree's schema. The plan uses it for what it does not model:
// custom marshalers, []byte, interfaces, ",string" fields, schema keywords
// like oneOf, and pointer chains deep enough to be cycles.

func (w *walker) fallback(n *node, v reflect.Value, addr bool) {
	var raw []byte
	var err error
	if n.quoted {
		raw, err = marshalQuoted(n, v, addr)
	} else {
		raw, err = marshalValue(v, addr)
	}
	if err != nil {
		w.add("marshal", msgMarshal(err), "")
		return
	}
	if n.sch == nil || n.sch.Bool != nil && *n.sch.Bool {
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		w.add("marshal", msgMarshal(err), "")
		return
	}
	if err := n.sch.Validate(doc); err != nil {
		w.viol = flatten(w.viol, err, doc, w.pointer())
	}
}

// marshalValue encodes v as encoding/json would inside the whole value:
// through its address when that value would be addressable, so that a
// pointer-receiver MarshalJSON is used exactly when it would be.
func marshalValue(v reflect.Value, addr bool) (raw []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{where: "MarshalJSON of " + typeName(v.Type()), value: p}
		}
	}()
	if addr && v.CanAddr() {
		return json.Marshal(v.Addr().Interface())
	}
	if !v.IsValid() {
		return []byte("null"), nil
	}
	return json.Marshal(v.Interface())
}

// marshalQuoted encodes a ",string" field by marshalling it inside a
// one-field struct with the same option, which is what encoding/json sees.
func marshalQuoted(n *node, v reflect.Value, addr bool) ([]byte, error) {
	wrap := reflect.New(n.wrapper)
	wrap.Elem().Field(0).Set(v)
	var target reflect.Value = wrap.Elem()
	raw, err := marshalValue(target, addr)
	if err != nil {
		return nil, err
	}
	var obj struct {
		V json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return obj.V, nil
}
