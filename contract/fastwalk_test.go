package contract

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dPure has only what the fast route reads in place: every corner of dLead
// that needs no method, map or interface, plus omit rules on each kind.
type dPure struct {
	dBase
	*dAudit
	Name     string      `json:"name" jsonschema:"minLength=1,maxLength=20"`
	Stage    string      `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Score    int         `json:"score" jsonschema:"minimum=0,maximum=100"`
	Priority int8        `json:"priority,omitempty" jsonschema:"enum=1,enum=2,enum=3"`
	Budget   float64     `json:"budget,omitempty" jsonschema:"minimum=0.5,exclusiveMaximum=1000000.1"`
	Ratio    float32     `json:"ratio" jsonschema:"minimum=0.1,maximum=0.9"`
	Whole    float64     `json:"whole,omitzero" jsonschema:"type=integer,maximum=10"`
	Big      int64       `json:"big" jsonschema:"maximum=9007199254740993"`
	Huge     uint64      `json:"huge" jsonschema:"exclusiveMinimum=18446744073709551000"`
	Small    uint8       `json:"small,omitempty" jsonschema:"enum=0,enum=7"`
	Labels   []string    `json:"labels" jsonschema:"maxItems=4"`
	Opt      []string    `json:"opt,omitzero" jsonschema:"minItems=1"`
	Seen     time.Time   `json:"seen"`
	Due      *time.Time  `json:"due,omitempty"`
	Since    time.Time   `json:"since,omitzero"`
	Stamp    time.Time   `json:"stamp" jsonschema:"pattern=^2024-"`
	Day      string      `json:"day" jsonschema:"format=date"`
	At       string      `json:"at_time,omitempty" jsonschema:"format=time"`
	Host     string      `json:"host,omitempty" jsonschema:"format=hostname"`
	IPv4     string      `json:"ipv4,omitempty" jsonschema:"format=ipv4"`
	UUID     string      `json:"uuid,omitempty" jsonschema:"format=uuid"`
	Site     string      `json:"site,omitempty" jsonschema:"format=uri"`
	Country  string      `json:"country" jsonschema:"pattern=^[A-Z]{2}$"`
	Slug     string      `json:"slug,omitempty" jsonschema:"pattern=^[a-z]+(-[a-z]+)*$"`
	Phone    *string     `json:"phone,omitempty" jsonschema:"pattern=^\\+?[0-9 ]{6\\,20}$"`
	On       bool        `json:"on,omitempty"`
	Grid     [2][]string `json:"grid"`
	None     [0]int      `json:"none,omitempty"`
	Tree     *dNode      `json:"tree,omitempty"`
}

func genPure(c chooser) dPure {
	l := genLead(c)
	p := dPure{dBase: l.dBase, dAudit: l.dAudit, Name: l.Name, Stage: l.Stage, Score: l.Score, Priority: l.Priority,
		Budget: l.Budget, Ratio: l.Ratio, Big: l.Big, Huge: l.Huge, Labels: l.Labels, Seen: l.Seen, Due: l.Due,
		Since: l.Since, Day: l.Day, At: l.At, Host: l.Host, IPv4: l.IPv4, UUID: l.UUID, Site: l.Primary.Site,
		Country: l.Country, Phone: l.Primary.Phone, Grid: l.Grid}
	p.Whole = pick(c, 0, math.Copysign(0, -1), 3, 2.5, 11, 1e300)
	p.Small = pick[uint8](c, 0, 7, 8)
	p.Opt = pick(c, nil, []string{"x"}, []string{})
	p.Stamp = pick(c, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), l.Seen)
	p.Slug = pick(c, "", "a-b", "a--b", "-a", "é-a")
	p.On = c.intn(2) == 1
	if c.intn(2) == 1 {
		n := genNode(c, 1)
		p.Tree = &n
	}
	return p
}

// exactValid walks v with reflect only, as the reporting walk does.
func exactValid[T any](c *Contract[T], v T) bool {
	var w walker
	w.exact = true
	w.walk(c.plan, reflect.ValueOf(&v).Elem(), false)
	return len(w.viol) == 0
}

// TestFastRouteAgrees: on a pure plan the fast route says yes exactly when
// the reflective walk finds nothing (soundness is what Check needs; the
// other half keeps valid values on the fast route).
func TestFastRouteAgrees(t *testing.T) {
	cp, err := For[dPure]()
	require.NoError(t, err)
	require.True(t, cp.plan.pure, "dPure should be read in place")
	cn, err := For[dNode]()
	require.NoError(t, err)
	require.True(t, cn.plan.pure, "a recursive type can be pure")

	r := rand.New(rand.NewPCG(3, 4))
	valid := 0
	for i := range 3000 {
		c := randChooser{r: r, bias: []int{0, 90, 97}[i%3]}
		p := genPure(c)
		fast := okAt(cp.plan, unsafe.Pointer(&p), 0)
		require.Equalf(t, exactValid(cp, p), fast, "value #%d: %#v", i, p)
		if diffOne(t, p) {
			valid++
		}
		n := genNode(c, 0)
		require.Equal(t, exactValid(cn, n), okAt(cn.plan, unsafe.Pointer(&n), 0), "%#v", n)
		if t.Failed() {
			break
		}
	}
	assert.Greater(t, valid, 100, "the generator should reach valid values")
}

func TestPurity(t *testing.T) {
	co, err := For[benchfixture.Order]()
	require.NoError(t, err)
	assert.True(t, co.plan.pure, "the benchmark fixture takes the fast route")
	ca, err := For[answerLead]()
	require.NoError(t, err)
	assert.True(t, ca.plan.pure && !ca.plan.deep, "answerLead is checked in place, uncopied (see TestCheckAllocatesNothing)")
	cl, err := For[dLead]()
	require.NoError(t, err)
	assert.False(t, cl.plan.pure, "maps, marshalers and interfaces need reflect")
	cc, err := For[dContact]()
	require.NoError(t, err)
	assert.False(t, cc.plan.pure, "a pointer-receiver marshaler depends on addressability")
	cw, err := For[struct {
		W dWindow `json:"w,omitzero"`
	}]()
	require.NoError(t, err)
	assert.False(t, cw.plan.pure, "an IsZero method is user code")
}
