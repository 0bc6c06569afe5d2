// Package webui is what the review inbox (review/reviewhttp) and the
// operator's console (console) share of serving pages: the anti-forgery
// tokens of their forms, CSP nonces and the security headers every
// response carries, the cross-origin check, the base path rule, and the
// isolation of text from users and models. Unstable: only those two
// import it.
package webui
