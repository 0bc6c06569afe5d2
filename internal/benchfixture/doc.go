// Package benchfixture holds the shared benchmark values. Lead (lead.go)
// is the durable benchmarks' payload: about 1 KB of JSON with a nested
// object, strings, an enum, an array of objects, a map and a time, the
// same value Plumb and its peers carry through three steps. Order is the
// step benchmarks' value: it marshals to about 1.3 KB of JSON with eleven
// objects, enums, patterns, formats (date-time, email, uri), bounds and
// lengths, plus a Validate method. Benchmarks across packages (contract
// checks, step overhead) use it so that their numbers are comparable.
// Keep both stable: changing a type or its constructor changes every
// benchmark that uses it.
package benchfixture
