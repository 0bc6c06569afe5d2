// Package models gives the examples their models: a provider's real API
// when its key is set in the environment, else scripted models that fail
// the way real ones do, item by item, the same way on every run.
package models
