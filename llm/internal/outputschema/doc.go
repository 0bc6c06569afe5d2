// Package outputschema prepares a caller's output schema for a provider
// that constrains answers with it, and reads the answers back, the same way
// for every model adapter.
//
// # Key order
//
// A model writes an answer's fields in the order its schema lists them
// (reasoning before verdict, say), and reviewers read answers in that
// order; encoding/json's maps would sort the keys. Object is a JSON object
// that keeps its keys in order: Decode reads a document into Objects,
// slices, strings, json.Numbers (exactly as written), booleans and nil, and
// Encode writes it back compactly, in the same order and without escaping
// <, > and &.
//
// # An object at the root
//
// Providers take an object schema only: OpenAI's response_format and
// Anthropic's tool input_schema alike. Root follows a root $ref into $defs
// (as schemas generated from Go types often have), and wraps any other root
// (an array, a nullable object, anyOf, a boolean schema) as the required
// property "value" of an object, carrying $defs along so that references
// still resolve. Unwrap takes the answer back out of "value".
//
// # Names and instructions
//
// Name fits a schema's name to the [a-zA-Z0-9_-]{1,64} that schema and tool
// names must match; Instructions asks, in words, for a document matching a
// schema, for modes and servers that cannot constrain the answer.
package outputschema
