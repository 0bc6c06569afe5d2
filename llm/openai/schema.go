package openai

import (
	"slices"

	"github.com/plumb-dev/plumb/llm/internal/outputschema"
)

// Keywords strict mode cannot express: a schema using one is sent with
// strict false.
var notStrict = map[string]bool{
	"patternProperties": true, "allOf": true, "not": true, "if": true, "then": true, "else": true,
	"dependentRequired": true, "dependentSchemas": true, "dependencies": true, "unevaluatedProperties": true,
	"unevaluatedItems": true, "propertyNames": true, "contains": true, "minContains": true,
	"maxContains": true, "prefixItems": true,
}

// Keywords strict mode rejects but that only narrow the answer: they are
// dropped from what is sent, and the caller's contract check, which has the
// whole schema, still enforces them.
var dropped = map[string]bool{
	"minLength": true, "maxLength": true, "minProperties": true, "maxProperties": true,
	"uniqueItems": true, "default": true, "examples": true, "$comment": true, "$schema": true,
	"$id": true, "contentEncoding": true, "contentMediaType": true, "deprecated": true,
	"readOnly": true, "writeOnly": true,
}

// strictFormats are the string formats strict mode knows.
var strictFormats = map[string]bool{
	"date-time": true, "time": true, "date": true, "duration": true, "email": true,
	"hostname": true, "ipv4": true, "ipv6": true, "uuid": true,
}

// strictify returns a copy of s in the form strict mode requires: every
// object closed (additionalProperties false) with every property required,
// the optional ones made nullable; oneOf becomes anyOf. It reports false
// when s has no strict form: an open object or map, an empty schema, or a
// keyword in notStrict.
func strictify(s any) (any, bool) {
	o, ok := s.(outputschema.Object)
	if !ok {
		return nil, false
	}
	out := make(outputschema.Object, 0, len(o)+2)
	for _, m := range o {
		switch {
		case notStrict[m.Key]:
			return nil, false
		case dropped[m.Key], m.Key == "required", m.Key == "properties":
			// properties and required are rebuilt below
		case m.Key == "format":
			if f, _ := m.Value.(string); strictFormats[f] {
				out = append(out, m)
			}
		case m.Key == "additionalProperties":
			if m.Value != false {
				return nil, false
			}
		case m.Key == "oneOf" || m.Key == "anyOf":
			if out.Has("anyOf") {
				return nil, false
			}
			list, ok := m.Value.([]any)
			if !ok {
				return nil, false
			}
			branches := make([]any, len(list))
			for i, b := range list {
				if branches[i], ok = strictify(b); !ok {
					return nil, false
				}
			}
			out = append(out, outputschema.Member{Key: "anyOf", Value: branches})
		case m.Key == "items":
			items, ok := strictify(m.Value)
			if !ok {
				return nil, false
			}
			out = append(out, outputschema.Member{Key: "items", Value: items})
		case m.Key == "$defs" || m.Key == "definitions":
			defs, ok := m.Value.(outputschema.Object)
			if !ok {
				return nil, false
			}
			sd := make(outputschema.Object, len(defs))
			for i, d := range defs {
				v, ok := strictify(d.Value)
				if !ok {
					return nil, false
				}
				sd[i] = outputschema.Member{Key: d.Key, Value: v}
			}
			out = append(out, outputschema.Member{Key: m.Key, Value: sd})
		default:
			out = append(out, m)
		}
	}
	props, hasProps := o.Lookup("properties")
	if hasProps || o.Get("type") == "object" {
		po, _ := props.(outputschema.Object)
		required := stringSet(o.Get("required"))
		sp := make(outputschema.Object, 0, len(po))
		names := make([]any, 0, len(po))
		for _, p := range po {
			v, ok := strictify(p.Value)
			if !ok {
				return nil, false
			}
			if !required[p.Key] {
				v = nullable(v.(outputschema.Object))
			}
			sp = append(sp, outputschema.Member{Key: p.Key, Value: v})
			names = append(names, p.Key)
		}
		out = append(out,
			outputschema.Member{Key: "properties", Value: sp},
			outputschema.Member{Key: "required", Value: names},
			outputschema.Member{Key: "additionalProperties", Value: false})
	}
	if !out.Has("type") && !out.Has("anyOf") && !out.Has("$ref") && !out.Has("enum") && !out.Has("const") {
		return nil, false // an empty schema accepts anything, which strict mode cannot say
	}
	return out, true
}

// nullable lets s also be null: how strict mode says a property is optional.
func nullable(s outputschema.Object) outputschema.Object {
	if allowsNull(s, nil) {
		return s
	}
	t, hasType := s.Lookup("type")
	if hasType && !s.Has("const") {
		switch t := t.(type) {
		case string:
			s.Set("type", []any{t, "null"})
		case []any:
			s.Set("type", append(slices.Clone(t), "null"))
		default:
			return anyOf(s, nullType())
		}
		if e, ok := s.Lookup("enum"); ok {
			if list, ok := e.([]any); ok {
				s.Set("enum", append(slices.Clone(list), nil))
			}
		}
		return s
	}
	if branches, ok := s.Get("anyOf").([]any); ok && len(s) == 1 {
		return anyOf(append(slices.Clone(branches), nullType())...)
	}
	return anyOf(s, nullType())
}

func anyOf(branches ...any) outputschema.Object {
	return outputschema.Object{{Key: "anyOf", Value: branches}}
}

func nullType() outputschema.Object { return outputschema.Object{{Key: "type", Value: "null"}} }

// guide walks an answer along the schema it was asked for.
type guide struct{ root outputschema.Object }

// resolve follows references, at most a few hops deep.
func (g guide) resolve(s any) outputschema.Object {
	for range 16 {
		o, ok := s.(outputschema.Object)
		if !ok {
			return nil
		}
		ref, ok := o.Lookup("$ref")
		if !ok {
			return o
		}
		r, _ := ref.(string)
		s = outputschema.LookupRef(g.root, r)
	}
	return nil
}

// dropNulls removes the nulls strict mode made the model write for optional
// properties, so that the answer matches the caller's own schema, which does
// not allow them.
func (g guide) dropNulls(v, schema any) any {
	switch v := v.(type) {
	case outputschema.Object:
		s := g.branch(schema, "properties")
		if s == nil {
			return v
		}
		props, _ := s.Get("properties").(outputschema.Object)
		required := stringSet(s.Get("required"))
		out := make(outputschema.Object, 0, len(v))
		for _, m := range v {
			ps, known := props.Lookup(m.Key)
			if known && m.Value == nil && !required[m.Key] && !allowsNull(ps, &g) {
				continue
			}
			if known {
				m.Value = g.dropNulls(m.Value, ps)
			}
			out = append(out, m)
		}
		return out
	case []any:
		if s := g.branch(schema, "items"); s != nil {
			items := s.Get("items")
			for i := range v {
				v[i] = g.dropNulls(v[i], items)
			}
		}
	}
	return v
}

// branch returns the schema, or the first of its anyOf/oneOf branches, that
// has keyword.
func (g guide) branch(schema any, keyword string) outputschema.Object {
	s := g.resolve(schema)
	if s == nil || s.Has(keyword) {
		return s
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := s.Get(k).([]any)
		for _, b := range list {
			if bs := g.resolve(b); bs != nil && bs.Has(keyword) {
				return bs
			}
		}
	}
	return nil
}

// allowsNull reports whether s accepts null; g resolves references (nil:
// none are followed).
func allowsNull(schema any, g *guide) bool {
	budget := 256 // references can go round in circles
	return allowsNullWithin(schema, g, &budget)
}

func allowsNullWithin(schema any, g *guide, budget *int) bool {
	if *budget--; *budget < 0 {
		return false
	}
	s, _ := schema.(outputschema.Object)
	if g != nil {
		s = g.resolve(schema)
	}
	if s == nil {
		return schema == true
	}
	switch t := s.Get("type").(type) {
	case string:
		if t == "null" {
			return true
		}
	case []any:
		if slices.Contains(t, any("null")) {
			return true
		}
	}
	if c, ok := s.Lookup("const"); ok && c == nil {
		return true
	}
	if e, ok := s.Get("enum").([]any); ok && slices.Contains(e, nil) {
		return true
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := s.Get(k).([]any)
		for _, b := range list {
			if allowsNullWithin(b, g, budget) {
				return true
			}
		}
	}
	return false
}

func stringSet(v any) map[string]bool {
	list, _ := v.([]any)
	set := make(map[string]bool, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			set[s] = true
		}
	}
	return set
}
