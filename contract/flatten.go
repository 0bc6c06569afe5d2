package contract

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// flatten turns santhosh-tekuri's error tree into leaf violations. doc is
// the validated instance (to render offending values) and prefix the JSON
// pointer of doc inside the whole value, for subtrees the typed plan hands
// over. Keywords and messages match what the typed plan reports.
func flatten(out []Violation, err error, doc any, prefix string) []Violation {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return append(out, Violation{Path: prefix, Keyword: "schema", Message: err.Error()})
	}
	return flattenNode(out, ve, doc, prefix)
}

func flattenNode(out []Violation, e *jsonschema.ValidationError, doc any, prefix string) []Violation {
	switch k := e.ErrorKind.(type) {
	case *kind.Group, *kind.Schema, *kind.Reference, *kind.AllOf:
		for _, c := range e.Causes {
			out = flattenNode(out, c, doc, prefix)
		}
		return out
	case *kind.AnyOf:
		return flattenAlternatives(out, e, doc, prefix, "anyOf")
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			return flattenAlternatives(out, e, doc, prefix, "oneOf")
		}
	}
	return append(out, leaf(e, doc, prefix))
}

// flattenAlternatives explains a failed anyOf/oneOf. Alternatives that fail
// only because the value has another JSON type are not what the author
// meant (a nullable string given "ab" did not mean to be null), so they are
// dropped; if one alternative is left, its own violations are the answer.
func flattenAlternatives(out []Violation, e *jsonschema.ValidationError, doc any, prefix, keyword string) []Violation {
	here := prefix + pointer(e.InstanceLocation)
	var kept [][]Violation
	var wants []string
	got := ""
	for _, c := range e.Causes {
		vs := flattenNode(nil, c, doc, prefix)
		if len(vs) == 1 && vs[0].Keyword == "type" && vs[0].Path == here {
			if t, ok := typeKind(c); ok {
				got = t.Got
				wants = appendUnique(wants, t.Want...)
				continue
			}
		}
		kept = append(kept, vs)
	}
	switch {
	case len(kept) == 1:
		return append(out, kept[0]...)
	case len(kept) == 0 && got != "":
		val := valueAt(doc, e.InstanceLocation)
		return append(out, Violation{Path: here, Keyword: "type", Message: msgType(got, wants, val), Value: val})
	}
	val := valueAt(doc, e.InstanceLocation)
	return append(out, Violation{Path: here, Keyword: keyword, Message: "matches none of the allowed alternatives", Value: val})
}

// typeKind finds the single type error under an alternative's error tree.
func typeKind(e *jsonschema.ValidationError) (*kind.Type, bool) {
	for {
		if t, ok := e.ErrorKind.(*kind.Type); ok {
			return t, true
		}
		if len(e.Causes) != 1 {
			return nil, false
		}
		e = e.Causes[0]
	}
}

func appendUnique(dst []string, ss ...string) []string {
	for _, s := range ss {
		found := false
		for _, d := range dst {
			found = found || d == s
		}
		if !found {
			dst = append(dst, s)
		}
	}
	return dst
}

func leaf(e *jsonschema.ValidationError, doc any, prefix string) Violation {
	val := valueAt(doc, e.InstanceLocation)
	v := Violation{Path: prefix + pointer(e.InstanceLocation), Value: val}
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		v.Keyword, v.Message = "type", msgType(k.Got, k.Want, val)
	case *kind.InvalidJsonValue:
		v.Keyword, v.Message = "type", fmt.Sprintf("%v is not a JSON value", k.Value)
	case *kind.Enum:
		v.Keyword, v.Message = "enum", msgEnum(val, k.Want)
	case *kind.Const:
		v.Keyword, v.Message = "const", msgConst(val, k.Want)
	case *kind.Format:
		v.Keyword, v.Message = "format", msgFormat(val, k.Want, k.Err)
	case *kind.Pattern:
		v.Keyword, v.Message = "pattern", msgPattern(val, k.Want)
	case *kind.MinLength:
		v.Keyword, v.Message = "minLength", msgCount(k.Got, k.Want, "character", "at least")
	case *kind.MaxLength:
		v.Keyword, v.Message = "maxLength", msgCount(k.Got, k.Want, "character", "at most")
	case *kind.Minimum:
		v.Keyword, v.Message = "minimum", msgBound("minimum", k.Want, val)
	case *kind.Maximum:
		v.Keyword, v.Message = "maximum", msgBound("maximum", k.Want, val)
	case *kind.ExclusiveMinimum:
		v.Keyword, v.Message = "exclusiveMinimum", msgBound("exclusiveMinimum", k.Want, val)
	case *kind.ExclusiveMaximum:
		v.Keyword, v.Message = "exclusiveMaximum", msgBound("exclusiveMaximum", k.Want, val)
	case *kind.MultipleOf:
		v.Keyword, v.Message = "multipleOf", msgBound("multipleOf", k.Want, val)
	case *kind.MinItems:
		v.Keyword, v.Message = "minItems", msgCount(k.Got, k.Want, "item", "at least")
	case *kind.MaxItems:
		v.Keyword, v.Message = "maxItems", msgCount(k.Got, k.Want, "item", "at most")
	case *kind.MinProperties:
		v.Keyword, v.Message = "minProperties", msgCount(k.Got, k.Want, "property", "at least")
	case *kind.MaxProperties:
		v.Keyword, v.Message = "maxProperties", msgCount(k.Got, k.Want, "property", "at most")
	case *kind.UniqueItems:
		v.Keyword = "uniqueItems"
		v.Message = "items " + strconv.Itoa(k.Duplicates[0]) + " and " + strconv.Itoa(k.Duplicates[1]) + " are equal, want unique items"
	case *kind.Required:
		v.Keyword, v.Message = "required", msgRequired(k.Missing)
	case *kind.AdditionalProperties:
		v.Keyword, v.Message = "additionalProperties", msgAdditional(k.Properties)
	case *kind.FalseSchema:
		v.Keyword, v.Message = "false", "no value is allowed here"
	case *kind.OneOf:
		v.Keyword = "oneOf"
		v.Message = fmt.Sprintf("matches more than one of the allowed alternatives (%d and %d)", k.Subschemas[0], k.Subschemas[1])
	default:
		v.Keyword = "schema"
		if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
			v.Keyword = kp[0]
		}
		v.Message = kindMessage(e)
	}
	return v
}

// kindMessage is santhosh-tekuri's own English message for a rare kind.
func kindMessage(e *jsonschema.ValidationError) string {
	bare := jsonschema.ValidationError{ErrorKind: e.ErrorKind}
	return strings.TrimPrefix(bare.Error(), "at '': ")
}

// valueAt renders the instance at loc inside doc.
func valueAt(doc any, loc []string) string {
	for _, tok := range loc {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) {
				return ""
			}
			doc = d[i]
		default:
			return ""
		}
	}
	return jsonText(doc)
}
