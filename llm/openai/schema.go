package openai

import (
	"slices"
	"strings"
)

// rootObject returns schema with an object schema at its root, which
// JSON-schema and JSON-object modes require. A root that points into $defs
// (as schemas generated from Go types often do) is replaced by its target;
// any other root (an array, a nullable object, anyOf) is wrapped as the
// property "value" of an object, and wrapped reports that the answer must be
// unwrapped.
func rootObject(schema any) (root object, wrapped bool) {
	o, ok := schema.(object)
	if !ok { // a boolean schema
		return wrap(schema, nil), true
	}
	o = slices.Clone(o)
	o.del("$schema") // annotations the provider has no use for
	o.del("$id")
	if ref, ok := o.get("$ref"); ok && !o.has("type") && !o.has("properties") {
		if s, _ := ref.(string); s != "" {
			if target, ok := lookupRef(o, s).(object); ok {
				merged := slices.Clone(target)
				for _, m := range o {
					if m.key != "$ref" && !merged.has(m.key) {
						merged = append(merged, m)
					}
				}
				o = merged
			}
		}
	}
	t, hasType := o.get("type")
	if !hasType && o.has("properties") {
		o.set("type", "object")
		return o, false
	}
	if t == "object" {
		return o, false
	}
	var defs []member
	for _, k := range []string{"$defs", "definitions"} {
		if v, ok := o.get(k); ok {
			defs = append(defs, member{k, v})
			o.del(k)
		}
	}
	return wrap(o, defs), true
}

// wrap makes s the required property "value" of an object; defs move to the
// new root so that references still resolve.
func wrap(s any, defs []member) object {
	w := object{
		{"type", "object"},
		{"properties", object{{"value", s}}},
		{"required", []any{"value"}},
		{"additionalProperties", false},
	}
	return append(w, defs...)
}

// lookupRef resolves a local reference ("#/$defs/Name", "#/definitions/Name")
// against root; it returns nil for anything else.
func lookupRef(root object, ref string) any {
	for _, prefix := range []string{"#/$defs/", "#/definitions/"} {
		name, ok := strings.CutPrefix(ref, prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		defs, _ := root.get(prefix[2 : len(prefix)-1])
		if d, ok := defs.(object); ok {
			v, _ := d.get(name)
			return v
		}
	}
	return nil
}

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
	o, ok := s.(object)
	if !ok {
		return nil, false
	}
	out := make(object, 0, len(o)+2)
	for _, m := range o {
		switch {
		case notStrict[m.key]:
			return nil, false
		case dropped[m.key], m.key == "required", m.key == "properties":
			// properties and required are rebuilt below
		case m.key == "format":
			if f, _ := m.val.(string); strictFormats[f] {
				out = append(out, m)
			}
		case m.key == "additionalProperties":
			if m.val != false {
				return nil, false
			}
		case m.key == "oneOf" || m.key == "anyOf":
			if out.has("anyOf") {
				return nil, false
			}
			list, ok := m.val.([]any)
			if !ok {
				return nil, false
			}
			branches := make([]any, len(list))
			for i, b := range list {
				if branches[i], ok = strictify(b); !ok {
					return nil, false
				}
			}
			out = append(out, member{"anyOf", branches})
		case m.key == "items":
			items, ok := strictify(m.val)
			if !ok {
				return nil, false
			}
			out = append(out, member{"items", items})
		case m.key == "$defs" || m.key == "definitions":
			defs, ok := m.val.(object)
			if !ok {
				return nil, false
			}
			sd := make(object, len(defs))
			for i, d := range defs {
				v, ok := strictify(d.val)
				if !ok {
					return nil, false
				}
				sd[i] = member{d.key, v}
			}
			out = append(out, member{m.key, sd})
		default:
			out = append(out, m)
		}
	}
	props, hasProps := o.get("properties")
	if hasProps || o.get0("type") == "object" {
		po, _ := props.(object)
		required := stringSet(o.get0("required"))
		sp := make(object, 0, len(po))
		names := make([]any, 0, len(po))
		for _, p := range po {
			v, ok := strictify(p.val)
			if !ok {
				return nil, false
			}
			if !required[p.key] {
				v = nullable(v.(object))
			}
			sp = append(sp, member{p.key, v})
			names = append(names, p.key)
		}
		out = append(out, member{"properties", sp}, member{"required", names}, member{"additionalProperties", false})
	}
	if !out.has("type") && !out.has("anyOf") && !out.has("$ref") && !out.has("enum") && !out.has("const") {
		return nil, false // an empty schema accepts anything, which strict mode cannot say
	}
	return out, true
}

// nullable lets s also be null: how strict mode says a property is optional.
func nullable(s object) object {
	if allowsNull(s, nil) {
		return s
	}
	t, hasType := s.get("type")
	if hasType && !s.has("const") {
		switch t := t.(type) {
		case string:
			s.set("type", []any{t, "null"})
		case []any:
			s.set("type", append(slices.Clone(t), "null"))
		default:
			return object{{"anyOf", []any{s, object{{"type", "null"}}}}}
		}
		if e, ok := s.get("enum"); ok {
			if list, ok := e.([]any); ok {
				s.set("enum", append(slices.Clone(list), nil))
			}
		}
		return s
	}
	if branches, ok := s.get0("anyOf").([]any); ok && len(s) == 1 {
		return object{{"anyOf", append(slices.Clone(branches), object{{"type", "null"}})}}
	}
	return object{{"anyOf", []any{s, object{{"type", "null"}}}}}
}

// guide walks an answer along the schema it was asked for.
type guide struct{ root object }

// resolve follows references, at most a few hops deep.
func (g guide) resolve(s any) object {
	for range 16 {
		o, ok := s.(object)
		if !ok {
			return nil
		}
		ref, ok := o.get("$ref")
		if !ok {
			return o
		}
		r, _ := ref.(string)
		s = lookupRef(g.root, r)
	}
	return nil
}

// dropNulls removes the nulls strict mode made the model write for optional
// properties, so that the answer matches the caller's own schema, which does
// not allow them.
func (g guide) dropNulls(v, schema any) any {
	switch v := v.(type) {
	case object:
		s := g.branch(schema, "properties")
		if s == nil {
			return v
		}
		props, _ := s.get0("properties").(object)
		required := stringSet(s.get0("required"))
		out := make(object, 0, len(v))
		for _, m := range v {
			ps, known := props.get(m.key)
			if known && m.val == nil && !required[m.key] && !allowsNull(ps, &g) {
				continue
			}
			if known {
				m.val = g.dropNulls(m.val, ps)
			}
			out = append(out, m)
		}
		return out
	case []any:
		if s := g.branch(schema, "items"); s != nil {
			items := s.get0("items")
			for i := range v {
				v[i] = g.dropNulls(v[i], items)
			}
		}
	}
	return v
}

// branch returns the schema, or the first of its anyOf/oneOf branches, that
// has keyword.
func (g guide) branch(schema any, keyword string) object {
	s := g.resolve(schema)
	if s == nil || s.has(keyword) {
		return s
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := s.get0(k).([]any)
		for _, b := range list {
			if bs := g.resolve(b); bs != nil && bs.has(keyword) {
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
	s, _ := schema.(object)
	if g != nil {
		s = g.resolve(schema)
	}
	if s == nil {
		return schema == true
	}
	switch t := s.get0("type").(type) {
	case string:
		if t == "null" {
			return true
		}
	case []any:
		if slices.Contains(t, any("null")) {
			return true
		}
	}
	if c, ok := s.get("const"); ok && c == nil {
		return true
	}
	if e, ok := s.get0("enum").([]any); ok && slices.Contains(e, nil) {
		return true
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := s.get0(k).([]any)
		for _, b := range list {
			if allowsNullWithin(b, g, budget) {
				return true
			}
		}
	}
	return false
}

// get0 returns key's value, nil when absent.
func (o object) get0(key string) any {
	v, _ := o.get(key)
	return v
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
