package outputschema

import (
	"slices"
	"strings"
)

// wrapKey is the property a wrapped root's answer sits under.
const wrapKey = "value"

// Root returns schema with an object schema at its root. A root that points
// into $defs is replaced by its target, keeping the root's other keywords;
// any other root that is not an object schema is wrapped as the required
// property "value" of an object, and wrapped reports that the answer must be
// unwrapped. $schema and $id, which providers have no use for, are dropped
// from the root. schema itself is not changed.
func Root(schema any) (root Object, wrapped bool) {
	o, ok := schema.(Object)
	if !ok { // a boolean schema
		return wrap(schema, nil), true
	}
	o = slices.Clone(o)
	o.Delete("$schema")
	o.Delete("$id")
	if ref, ok := o.Lookup("$ref"); ok && !o.Has("type") && !o.Has("properties") {
		if s, _ := ref.(string); s != "" {
			if target, ok := LookupRef(o, s).(Object); ok {
				merged := slices.Clone(target)
				for _, m := range o {
					if m.Key != "$ref" && !merged.Has(m.Key) {
						merged = append(merged, m)
					}
				}
				o = merged
			}
		}
	}
	t, hasType := o.Lookup("type")
	if !hasType && o.Has("properties") {
		o.Set("type", "object")
		return o, false
	}
	if t == "object" {
		return o, false
	}
	var defs []Member
	for _, k := range []string{"$defs", "definitions"} {
		if v, ok := o.Lookup(k); ok {
			defs = append(defs, Member{k, v})
			o.Delete(k)
		}
	}
	return wrap(o, defs), true
}

// wrap makes s the required property "value" of an object; defs move to the
// new root so that references still resolve.
func wrap(s any, defs []Member) Object {
	w := Object{
		{"type", "object"},
		{"properties", Object{{wrapKey, s}}},
		{"required", []any{wrapKey}},
		{"additionalProperties", false},
	}
	return append(w, defs...)
}

// Unwrap returns the answer to a wrapped schema from under "value"; ok is
// false when answer is not an object with that key.
func Unwrap(answer any) (v any, ok bool) {
	o, ok := answer.(Object)
	if !ok {
		return nil, false
	}
	return o.Lookup(wrapKey)
}

// LookupRef resolves a local reference ("#/$defs/Name",
// "#/definitions/Name") against root; it returns nil for anything else.
func LookupRef(root Object, ref string) any {
	for _, prefix := range []string{"#/$defs/", "#/definitions/"} {
		name, ok := strings.CutPrefix(ref, prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		if d, ok := root.Get(prefix[2 : len(prefix)-1]).(Object); ok {
			return d.Get(name)
		}
	}
	return nil
}

// Name makes name fit the [a-zA-Z0-9_-]{1,64} that OpenAI's schema names
// and Anthropic's tool names must match.
func Name(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return "output"
	}
	return string(b)
}

// Instructions asks in words for a document matching schema, for modes
// (and servers) that cannot constrain the answer. It names JSON, which
// OpenAI's JSON mode requires the conversation to do.
func Instructions(schema []byte) string {
	return "Answer with a single JSON document that matches the JSON Schema below, and nothing else: " +
		"no prose, no Markdown code fences.\n\nJSON Schema:\n" + string(schema)
}
