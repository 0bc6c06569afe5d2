package contract_test

import (
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
)

type Lead struct {
	Name   string `json:"name" jsonschema:"minLength=1,maxLength=80"`
	Email  string `json:"email" jsonschema:"format=email"`
	Stage  string `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Budget int    `json:"budget,omitempty" jsonschema:"minimum=0"`
}

func ExampleFor() {
	c, err := contract.For[Lead]()
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Check(Lead{Name: "Ann", Email: "ann@example.com", Stage: "warm"}))
	fmt.Println(c.Check(Lead{Name: "Bob", Email: "bob", Stage: "Hot"}))
	// Output:
	// <nil>
	// contract violated: Lead: 2 violations:
	// - /email: "bob" is not a valid email: missing @
	// - /stage: "Hot" is not one of "new", "warm", "hot"
}

func ExampleDecode() {
	answer := "Sure! Here is the lead:\n```json\n" +
		`{"name": "Ann", "email": "ann@example.com", "stage": "hot", "budget": 5000,}` +
		"\n```\nLet me know if you need more."
	lead, err := contract.Decode[Lead](answer)
	fmt.Printf("%+v %v\n", lead, err)

	// A number written as a string is reported, not guessed.
	_, err = contract.Decode[Lead](`{"name": "Ann", "email": "ann@example.com", "stage": "hot", "budget": "5000"}`)
	fmt.Println(err)

	// A cut-off answer says so.
	_, err = contract.Decode[Lead](`{"name": "Ann", "email": "ann@exa`)
	fmt.Println(err)
	// Output:
	// {Name:Ann Email:ann@example.com Stage:hot Budget:5000} <nil>
	// contract violated: Lead: 1 violation:
	// - /budget: expected integer, got string "5000"
	// contract violated: Lead: 1 violation:
	// - (root): answer ends mid-string at offset 33 (the output was probably cut off)
}

func ExampleValidationError() {
	err := contract.Check(Lead{Name: "", Email: "ann@example.com", Stage: "cold"})

	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			fmt.Printf("%s %s: %s\n", v.Path, v.Keyword, v.Message)
		}
	}
	fmt.Println(errors.Is(err, retry.ErrContract), retry.Classify(err))
	// Output:
	// /name minLength: has 0 characters, want at least 1
	// /stage enum: "cold" is not one of "new", "warm", "hot"
	// true contract
}

func ExampleCompileSchema() {
	// A review record keeps the schema's JSON; whoever validates a
	// reviewer's edit later does not need the Go type.
	stored, _ := contract.SchemaFor[Lead]()
	doc := stored.JSON()

	s, err := contract.CompileSchema(doc)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Name())
	fmt.Println(s.ValidateJSON([]byte(`{"name": "Ann", "email": "ann@example.com", "stage": "new"}`)))
	fmt.Println(s.ValidateJSON([]byte(`{"name": "Ann", "stage": "new", "vip": true}`)))
	// Output:
	// Lead
	// <nil>
	// contract violated: Lead: 2 violations:
	// - (root): property "vip" is not allowed
	// - (root): missing required property "email"
}

// An answer with two different readings is not resolved by taking the
// first: it is a contract violation, re-asked.
func ExampleAmbiguousError() {
	answer := "Here is the lead:\n" +
		`{"name": "Ann", "email": "ann@example.com", "stage": "warm"}` + "\n" +
		"or, on second thought:\n" +
		`{"name": "Ann", "email": "ann@example.com", "stage": "hot"}`
	_, err := contract.Decode[Lead](answer)
	var ae *contract.AmbiguousError
	fmt.Println(errors.As(err, &ae), ae.Kind == contract.SeveralValues, ae.Values)
	fmt.Println(errors.Is(err, retry.ErrContract))
	fmt.Println(err)

	_, err = contract.Decode[Lead](`{"name": "Ann", "email": "ann@example.com", "stage": "warm", "stage": "hot"}`)
	fmt.Println(err)

	// A repeat of the same value is no ambiguity.
	same := `{"name": "Ann", "email": "ann@example.com", "stage": "warm"}`
	_, err = contract.Decode[Lead](same + "\n" + same)
	fmt.Println(err)
	// Output:
	// true true 2
	// true
	// contract violated: Lead: 1 violation:
	// - (root): the answer holds 2 different JSON objects (at offsets 18 and 102); exactly one is wanted
	// contract violated: Lead: 1 violation:
	// - /stage: the key "stage" appears more than once with different values ("warm" and "hot"); exactly one is wanted
	// <nil>
}

// A ValidationError keeps the first MaxViolations violations and counts
// them all, so that a badly broken answer makes a short report.
func ExampleValidationError_Count() {
	type Item struct {
		Qty int `json:"qty" jsonschema:"minimum=1"`
	}
	items := make([]Item, 5000)
	err := contract.Check(items)
	var ve *contract.ValidationError
	errors.As(err, &ve)
	fmt.Println(len(ve.Violations), ve.Count(), ve.Omitted())
	// Output:
	// 100 5000 4900
}
