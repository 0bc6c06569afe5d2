package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// parsePointer splits a JSON pointer (RFC 6901) into its unescaped
// tokens. The root pointer "" is refused: an id is never the whole body.
func parsePointer(p string) ([]string, error) {
	if p == "" || p[0] != '/' {
		return nil, fmt.Errorf("%q is not a JSON pointer to a field: write it as /id or /data/object/id", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || t[j+1] != '0' && t[j+1] != '1') {
				return nil, fmt.Errorf("%q: '~' must be followed by 0 or 1 (\"~0\" is '~', \"~1\" is '/')", p)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// lookup finds the value at toks in doc, a document decoded with
// UseNumber.
func lookup(doc any, toks []string) (any, bool) {
	for _, t := range toks {
		switch n := doc.(type) {
		case map[string]any:
			v, ok := n[t]
			if !ok {
				return nil, false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(n) || (len(t) > 1 && t[0] == '0') {
				return nil, false
			}
			doc = n[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// body is a delivery's body, decoded at most once for the pointers that
// read it.
type body struct {
	raw    []byte
	doc    any
	err    error
	parsed bool
}

func (b *body) decoded() (any, error) {
	if !b.parsed {
		b.parsed = true
		d := json.NewDecoder(bytes.NewReader(b.raw))
		d.UseNumber()
		b.err = d.Decode(&b.doc)
		if b.err == nil && d.More() {
			b.err = errors.New("more than one JSON value")
		}
	}
	return b.doc, b.err
}

// field returns the string or number at pointer p in the body.
func (b *body) field(p string) (string, error) {
	toks, err := parsePointer(p)
	if err != nil {
		return "", err
	}
	doc, err := b.decoded()
	if err != nil {
		return "", fmt.Errorf("the body is not JSON, so it has no %s", p)
	}
	v, ok := lookup(doc, toks)
	if !ok {
		return "", fmt.Errorf("the body has no %s", p)
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("the body's %s is not a string or a number", p)
}

// deliveryID finds a delivery's id where d says, and checks it is fit to
// be part of an idempotency key: 1 to 200 printable ASCII characters.
func deliveryID(d DeliveryID, h http.Header, b *body) (string, error) {
	var id string
	if d.Header != "" {
		vs := h.Values(d.Header)
		if len(vs) == 0 || vs[0] == "" {
			return "", fmt.Errorf("no delivery id: the %s header is missing", d.Header)
		}
		if len(vs) > 1 {
			return "", fmt.Errorf("the %s header is given %d times: one delivery has one id", d.Header, len(vs))
		}
		id = vs[0]
	} else {
		var err error
		if id, err = b.field(d.Field); err != nil {
			return "", fmt.Errorf("no delivery id: %w", err)
		}
	}
	id = strings.TrimSpace(id)
	switch {
	case id == "":
		return "", fmt.Errorf("no delivery id: the %s is empty", d)
	case len(id) > maxDeliveryID:
		return "", fmt.Errorf("the delivery id in the %s is %d bytes long; at most %d are accepted", d, len(id), maxDeliveryID)
	case strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r > '~' }):
		return "", fmt.Errorf("the delivery id in the %s has characters other than printable ASCII", d)
	}
	return id, nil
}
