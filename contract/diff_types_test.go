package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/invopop/jsonschema"
)

// Types for the differential test: each corner where a typed check could
// disagree with validating the value's JSON (nil slices and maps, omitempty
// and omitzero, values that cannot be marshalled, big integers, rune
// lengths, formats, patterns, types the plan falls back on) appears in at
// least one field. None has a Validate method, so that Check's
// verdict is the schema's alone and can be compared with the generic route.

type dBase struct {
	ID int64 `json:"id" jsonschema:"minimum=1"`
}

type dAudit struct {
	By string `json:"by" jsonschema:"minLength=2"`
	At string `json:"at,omitempty" jsonschema:"format=date-time"`
}

type dContact struct {
	Email string  `json:"email" jsonschema:"format=email"`
	Phone *string `json:"phone,omitempty" jsonschema:"pattern=^\\+?[0-9 ]{6\\,20}$"`
	Site  string  `json:"site,omitempty" jsonschema:"format=uri"`
	Code  dCode   `json:"code"`
}

// dCode has a pointer-receiver MarshalText: encoding/json uses it only
// where the value is addressable (in a slice element, behind a pointer).
type dCode int

func (c *dCode) MarshalText() ([]byte, error) {
	if *c < 0 {
		return nil, errors.New("negative code")
	}
	return []byte("C" + strconv.Itoa(int(*c))), nil
}

func (dCode) JSONSchema() *jsonschema.Schema {
	n := uint64(3)
	return &jsonschema.Schema{Description: "a code, written as text where addressable", MinLength: &n}
}

// dMoney has its own MarshalJSON (value receiver) and describes its wire
// form with JSONSchema.
type dMoney struct{ Cents int64 }

func (m dMoney) MarshalJSON() ([]byte, error) {
	if m.Cents == -1 {
		return nil, errors.New("money is undefined")
	}
	if m.Cents == -2 {
		return []byte(`{not json`), nil
	}
	return json.Marshal(fmt.Sprintf("%d.%02d", m.Cents/100, abs(m.Cents%100)))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (dMoney) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^-?[0-9]+\.[0-9]{2}$`}
}

// dWindow is zero by its own IsZero method, not by its fields.
type dWindow struct {
	From, To int
}

func (w dWindow) IsZero() bool { return w.To <= w.From }

type dLead struct {
	dBase
	*dAudit
	Name     string            `json:"name" jsonschema:"minLength=1,maxLength=20"`
	Stage    string            `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Score    int               `json:"score" jsonschema:"minimum=0,maximum=100"`
	Priority int8              `json:"priority,omitempty" jsonschema:"enum=1,enum=2,enum=3"`
	Budget   float64           `json:"budget,omitempty" jsonschema:"minimum=0.5,exclusiveMaximum=1000000.1"`
	Ratio    float32           `json:"ratio" jsonschema:"minimum=0.1,maximum=0.9"`
	Big      int64             `json:"big" jsonschema:"maximum=9007199254740993"`
	Huge     uint64            `json:"huge" jsonschema:"exclusiveMinimum=18446744073709551000"`
	Contacts []dContact        `json:"contacts" jsonschema:"minItems=1,maxItems=3"`
	Primary  dContact          `json:"primary"`
	Owner    *dContact         `json:"owner,omitempty"`
	Tags     map[string]int    `json:"tags,omitempty" jsonschema:"minProperties=1"`
	Labels   []string          `json:"labels" jsonschema:"maxItems=4"`
	Seen     time.Time         `json:"seen"`
	Due      *time.Time        `json:"due,omitempty"`
	Since    time.Time         `json:"since,omitzero"`
	Window   dWindow           `json:"window,omitzero"`
	Day      string            `json:"day" jsonschema:"format=date"`
	At       string            `json:"at_time,omitempty" jsonschema:"format=time"`
	Host     string            `json:"host,omitempty" jsonschema:"format=hostname"`
	IPv4     string            `json:"ipv4,omitempty" jsonschema:"format=ipv4"`
	IPv6     string            `json:"ipv6,omitempty" jsonschema:"format=ipv6"`
	UUID     string            `json:"uuid,omitempty" jsonschema:"format=uuid"`
	Country  string            `json:"country" jsonschema:"pattern=^[A-Z]{2}$"`
	Money    dMoney            `json:"money"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Any      any               `json:"any,omitempty"`
	Blob     []byte            `json:"blob,omitempty"`
	Count    int               `json:"count,string"`
	Flag     *bool             `json:"flag" jsonschema:"nullable"`
	Grid     [2][]string       `json:"grid"`
	Extra    map[string]string `json:"extra,omitempty"`
}

// dNode is recursive, so its schema keeps $defs and a root $ref.
type dNode struct {
	Name   string   `json:"name" jsonschema:"minLength=1,maxLength=8"`
	Weight *float64 `json:"weight,omitempty" jsonschema:"minimum=0"`
	Kids   []dNode  `json:"kids,omitempty" jsonschema:"maxItems=3"`
}
