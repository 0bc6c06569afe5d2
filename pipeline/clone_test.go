package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/benchfixture"
)

// roundTrip is what the store gives back: v encoded and decoded again.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkClone asserts that T is cloneable and that the clone of v is what
// a JSON round trip gives, field for field.
func checkClone[T any](t *testing.T, v T) T {
	t.Helper()
	c := clonerOf[T]()
	if c == nil {
		t.Fatalf("%T: not cloneable", v)
	}
	got, ok := c(v)
	if !ok {
		t.Fatalf("%T: clone refused %+v", v, v)
	}
	if want := roundTrip(t, v); !reflect.DeepEqual(got, want) {
		t.Fatalf("%T: clone\n%#v\nround trip\n%#v", v, got, want)
	}
	return got
}

type cloneTree struct {
	Name     string       `json:"name"`
	Children []*cloneTree `json:"children,omitempty"`
}

type cloneShapes struct {
	Lead      benchfixture.Lead  `json:"lead"`
	Ptr       *benchfixture.Lead `json:"ptr"`
	NilPtr    *int               `json:"nil_ptr"`
	Any       any                `json:"any"`
	AnyMap    map[string]any     `json:"any_map"`
	Bytes     []byte             `json:"bytes"`
	NilSlice  []int              `json:"nil_slice"`
	Empty     []int              `json:"empty"`
	OmitEmpty []int              `json:"omit_empty,omitempty"`
	OmitZero  int                `json:"omit_zero_int,omitempty"`
	Array     [3]string          `json:"array"`
	IntKeys   map[int]float64    `json:"int_keys"`
	Skipped   string             `json:"-"`
	hidden    string
	Local     time.Time          `json:"local"`
	Tree      cloneTree          `json:"tree"`
	Nested    [][]map[string]int `json:"nested"`
	AsString  int64              `json:"as_string,string"`
	Float32   float32            `json:"f32"`
}

func TestCloneIsTheJSONRoundTrip(t *testing.T) {
	lead := benchfixture.NewLead(7)
	v := cloneShapes{
		Lead: lead, Ptr: &lead, Any: map[string]any{"n": 3, "list": []int{1, 2}},
		AnyMap: map[string]any{"x": int64(1) << 40, "s": "é"}, Bytes: []byte{0, 1, 2},
		Empty: []int{}, OmitEmpty: []int{}, Array: [3]string{"a", "b", "c"},
		IntKeys: map[int]float64{-3: 0.1, 7: -0.0}, Skipped: "dropped", hidden: "dropped",
		Local:  time.Date(2026, 12, 3, 10, 0, 0, 123, time.FixedZone("CET", 3600)),
		Tree:   cloneTree{Name: "root", Children: []*cloneTree{{Name: "leaf"}, {Name: "other", Children: []*cloneTree{}}}},
		Nested: [][]map[string]int{{{"a": 1}}, nil}, AsString: 12345, Float32: 0.1,
	}
	got := checkClone(t, v)
	if got.Any.(map[string]any)["n"] != float64(3) {
		t.Fatalf("a number in an any is a float64 after JSON: %#v", got.Any)
	}
	if got.Skipped != "" || got.hidden != "" {
		t.Fatal("fields JSON ignores must be zero in the clone")
	}
	// The clone shares nothing with the value.
	got.Lead.Visits[0].Path = "/changed"
	got.Lead.Fields["x"] = "changed"
	got.Ptr.Contact.Name = "changed"
	got.Bytes[0] = 9
	got.Tree.Children[0].Name = "changed"
	if v.Lead.Visits[0].Path == "/changed" || v.Lead.Fields["x"] == "changed" || lead.Contact.Name == "changed" ||
		v.Bytes[0] == 9 || v.Tree.Children[0].Name == "changed" {
		t.Fatal("the clone aliases the value")
	}
	// Monotonic readings go, as in JSON.
	checkClone(t, time.Now())
	checkClone(t, lead)
	checkClone(t, 42)
	checkClone(t, "plain")
	checkClone[any](t, struct{ A int }{1})
	checkClone[[]benchfixture.Lead](t, nil)
}

type withMethods struct{ A int }

func (w withMethods) MarshalJSON() ([]byte, error) { return []byte(`{"a":1}`), nil }

type textKey string

func (k *textKey) UnmarshalText(b []byte) error { *k = textKey(strings.ToUpper(string(b))); return nil }

type embedded struct {
	benchfixture.Contact
	Extra string
}

type clash struct {
	X string
	B string `json:"X"`
}

type omitZero struct {
	T time.Time `json:"t,omitzero"`
}

func TestCloneRefusesWhatItCannotCopyFaithfully(t *testing.T) {
	if clonerOf[withMethods]() != nil {
		t.Error("a type with its own MarshalJSON is cloned")
	}
	if clonerOf[map[textKey]int]() != nil {
		t.Error("a map whose keys decode with their own method is cloned")
	}
	if clonerOf[embedded]() != nil {
		t.Error("a struct with embedded fields is cloned")
	}
	if clonerOf[clash]() != nil {
		t.Error("a struct whose JSON names collide is cloned")
	}
	if clonerOf[omitZero]() != nil {
		t.Error("omitzero is cloned")
	}
	if clonerOf[chan int]() != nil || clonerOf[func()]() != nil {
		t.Error("a channel or a function is cloned")
	}
	// A string that is not valid UTF-8 is changed by encoding: not cloned.
	c := clonerOf[benchfixture.Lead]()
	lead := benchfixture.NewLead(1)
	lead.Message = "bad \xff byte"
	if _, ok := c(lead); ok {
		t.Error("invalid UTF-8 is cloned")
	}
	lead = benchfixture.NewLead(1)
	lead.Fields["\xfe"] = "key"
	if _, ok := c(lead); ok {
		t.Error("an invalid UTF-8 map key is cloned")
	}
	a := clonerOf[any]()
	if _, ok := a(map[string]any{"s": "\xff"}); ok {
		t.Error("invalid UTF-8 inside an any is cloned")
	}
}

func BenchmarkCloneLead(b *testing.B) {
	c := clonerOf[benchfixture.Lead]()
	lead := benchfixture.NewLead(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c(lead); !ok {
			b.Fatal("refused")
		}
	}
}
