package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// Contract is the compiled contract of type T: its JSON Schema, a validator
// for raw JSON and a typed plan that checks Go values without marshalling
// them. A Contract is immutable and safe for concurrent use.
type Contract[T any] struct {
	schema *Schema
	plan   *node
	root   byte      // what Decode looks for: '{', '[' or 0 for any value
	pool   sync.Pool // *scratch[T]
}

// scratch is what one Check works on: a heap copy of the value, so that
// Validate and IsZero methods can be called through pointers without the
// argument escaping, and the walker's reusable buffers.
type scratch[T any] struct {
	v T
	w walker
}

// cache holds one *Contract[T] (or the error building it) per type.
var cache sync.Map // reflect.Type -> *cacheEntry

type cacheEntry struct {
	once sync.Once
	c    any
	err  error
}

// For returns T's contract, built once per type and cached. It fails for
// types that cannot have a JSON contract (channels, functions, complex
// numbers, maps with unsupported keys, fields the schema cannot describe),
// with an error that names the type and says why.
func For[T any]() (*Contract[T], error) {
	t := reflect.TypeFor[T]()
	e, ok := cache.Load(t)
	if !ok {
		e, _ = cache.LoadOrStore(t, &cacheEntry{})
	}
	entry := e.(*cacheEntry)
	entry.once.Do(func() { entry.c, entry.err = build[T](t) })
	if entry.err != nil {
		return nil, entry.err
	}
	return entry.c.(*Contract[T]), nil
}

func build[T any](t reflect.Type) (*Contract[T], error) {
	name := typeName(t)
	if err := checkEncodable(t); err != nil {
		return nil, fmt.Errorf("contract: type %s cannot have a JSON contract: %w", name, err)
	}
	doc, err := generateSchema(t, name)
	if err != nil {
		return nil, err
	}
	s, err := compileDoc(doc, name)
	if err != nil {
		return nil, err
	}
	plan, err := buildPlan(t, s.root)
	if err != nil {
		return nil, fmt.Errorf("contract: type %s: %w", name, err)
	}
	c := &Contract[T]{schema: s, plan: plan, root: s.rootKind()}
	c.pool.New = func() any { return new(scratch[T]) }
	return c, nil
}

// Schema returns the contract's JSON Schema.
func (c *Contract[T]) Schema() *Schema { return c.schema }

// Check checks v against the contract: the schema first, by walking the Go
// value with the typed plan (the verdict and violations are those of
// validating v's JSON), then the Validate methods of v and of the values
// inside it. It returns nil or a *ValidationError. A valid value costs no
// allocation, except where the plan falls back to marshalling (custom
// marshalers, []byte, interfaces, maps) or a format's uncommon shape needs
// the validator's own check.
func (c *Contract[T]) Check(v T) error {
	tried := false
	if c.plan.pure && !c.plan.deep {
		// No method to call, nothing to reflect on: the fast route reads v
		// where it is. okAt never lets the pointer escape, so v stays on
		// the stack and the copy into scratch is saved.
		if okAt(c.plan, unsafe.Pointer(&v), 0) {
			return nil
		}
		tried = true
	}
	s := c.pool.Get().(*scratch[T])
	s.v = v
	w := &s.w
	w.exact = tried // the walk below is only there to report
	rv := reflect.ValueOf(&s.v).Elem()
	w.walk(c.plan, rv, false)
	if len(w.viol) == 0 && c.plan.deep {
		w.validatePass(c.plan, rv)
	}
	var err error
	if len(w.viol) > 0 {
		err = newValidationError(c.schema.name, w.viol, w.first, w.omitted)
	}
	var zero T
	s.v = zero // the pool must not keep the caller's data alive
	w.reset()
	c.pool.Put(s)
	return err
}

// ValidateJSON validates raw JSON against the schema only; Validate
// methods need a Go value and are run by Unmarshal and Decode. Text that is
// not JSON is one violation with keyword "syntax".
func (c *Contract[T]) ValidateJSON(raw []byte) error { return c.schema.ValidateJSON(raw) }

// Unmarshal is the strict decoder: raw must be exactly one JSON value that
// passes the schema; it is then decoded into T with encoding/json and
// checked again, Validate methods included. Every failure is a
// *ValidationError.
func (c *Contract[T]) Unmarshal(raw []byte) (T, error) {
	var v T
	if err := c.ValidateJSON(raw); err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		var zero T
		return zero, newValidationError(c.schema.name, []Violation{unmarshalViolation(raw, err)}, nil, 0)
	}
	if err := c.Check(v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Decode is the lenient decoder for a model's answer: it finds the JSON in
// the text (see Extract: markdown fences, prose around it, trailing commas,
// Python literals and the like) and then checks it as Unmarshal does. It
// never invents data: a missing field, a number written as a string or an
// enum in the wrong case is a violation, not a guess. Text with no usable
// JSON is a violation with keyword "syntax" that says why.
func (c *Contract[T]) Decode(text string) (T, error) {
	raw, _, err := extract(text, c.root)
	if err != nil {
		var zero T
		var ae *AmbiguousError
		if errors.As(err, &ae) {
			return zero, ae.validationError(c.schema.name)
		}
		return zero, syntaxError(c.schema.name, err.Error())
	}
	return c.Unmarshal(raw)
}

// rootKind is the JSON type a decoded answer must have at its top, which
// tells Extract what to look for: '{', '[' or 0 for anything.
func (s *Schema) rootKind() byte {
	r := resolveRef(s.root)
	if r == nil || r.Types == nil {
		return 0
	}
	switch ts := r.Types.ToStrings(); {
	case len(ts) == 1 && ts[0] == "object":
		return '{'
	case len(ts) == 1 && ts[0] == "array":
		return '['
	}
	return 0
}

// Check checks v against T's contract; see Contract.Check.
func Check[T any](v T) error {
	c, err := For[T]()
	if err != nil {
		return err
	}
	return c.Check(v)
}

// Decode decodes a model's answer into T; see Contract.Decode.
func Decode[T any](text string) (T, error) {
	c, err := For[T]()
	if err != nil {
		var zero T
		return zero, err
	}
	return c.Decode(text)
}

// SchemaFor returns T's JSON Schema.
func SchemaFor[T any]() (*Schema, error) {
	c, err := For[T]()
	if err != nil {
		return nil, err
	}
	return c.schema, nil
}
