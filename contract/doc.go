// Package contract turns Go types into contracts: a JSON Schema generated
// from the type, a validator for raw JSON, a typed check for Go values, and
// a lenient decoder for model answers. Every failure is a *ValidationError
// that lists each violation with its JSON pointer, and that
// errors.Is(err, retry.ErrContract) recognises.
//
// # Contracts
//
// For[T] builds T's contract once and caches it. The schema comes from
// invopop/jsonschema, reading `json` and `jsonschema` struct tags
// (required, enum, minimum, maximum, minLength, maxLength, pattern,
// format...), written inline without $ref so it can be sent to a model as
// is; santhosh-tekuri/jsonschema compiles it (draft 2020-12, formats
// asserted) to validate raw JSON.
//
//	type Lead struct {
//		Email string `json:"email" jsonschema:"format=email"`
//		Stage string `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
//	}
//	lead, err := contract.Decode[Lead](answer)
//
// # Checking Go values
//
// Contract.Check checks a Go value without marshalling it. A plan,
// compiled from the type and the same schema, walks the value and reaches
// exactly the verdict, with the same violation paths and keywords, that
// marshalling it with encoding/json and validating the JSON would: nil
// slices are null, omitempty and omitzero are honoured, NaN and
// out-of-range times are violations, invalid UTF-8 is read as U+FFFD,
// integers are compared exactly and lengths count characters. What the
// plan does not model (custom marshalers, []byte, interfaces, ",string"
// fields) it marshals and validates generically. A valid value costs no
// allocation, so Check is cheap enough to run between every two steps.
//
// After the schema passes, Check calls the Validate() error method of the
// value and of every value inside it that has one (see Validator); an
// error becomes a violation with keyword "validate" at that value's path,
// and ValidationError.Err keeps it for errors.As. A Validate method that
// knows which field is wrong returns a *ValidationError of its own, whose
// violations (paths relative to the value) are merged in under the
// value's path: a re-asked model then reads "/publish_date: is in the
// past", not just "invalid".
//
// # Decoding model answers
//
// Decode reads what models actually write: JSON inside a markdown fence,
// with prose around it, trailing commas, comments or Python's True and
// None. Extract repairs only tokens, never data: a missing field, a number
// written as a string or an enum in the wrong case is reported as a
// violation, so that the caller can re-ask the model with the list. Text
// with no usable JSON yields a "syntax" violation that says why, such as
// an answer that ends mid-object because it was cut off.
//
// An answer that can be read two ways is rejected, not resolved by taking
// the first reading: two different JSON objects in its prose or in two
// json fences, or an object with a key twice whose values differ, is an
// *AmbiguousError, which Decode reports as one violation of keyword
// "ambiguous" (at the duplicate key's pointer) saying how many different
// values the answer held and that exactly one is wanted. Values equal once
// decoded are one reading: a model that repeats itself is not ambiguous.
// Numbers are compared as written, so 1 and 1.0 are two readings.
//
// # Bounded reports
//
// A ValidationError travels into re-ask prompts, attempt records and the
// review inbox, so its size does not grow with the answer's. It keeps the
// first MaxViolations violations in path order and counts them all
// (Total, Count); a message lists at most twenty names ("properties "a",
// "b", … and 999,980 more are not allowed"), each cut to forty
// characters, and any message is cut to 500; Error lists the first twenty
// violations. The verdict is never bounded: an answer with 200,000
// violations is as invalid as one with two, and both routes (the typed
// check and validating JSON) still report the same violations.
package contract
