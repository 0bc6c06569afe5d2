package benchfixture

import (
	"errors"
	"time"
)

// Order is a typical structured output: what a model extracts from an
// order confirmation email.
type Order struct {
	ID        string    `json:"id" jsonschema:"pattern=^ORD-[0-9]{6}$"`
	Status    string    `json:"status" jsonschema:"enum=pending,enum=paid,enum=shipped,enum=cancelled"`
	CreatedAt time.Time `json:"created_at"`
	Customer  Customer  `json:"customer"`
	Shipping  Address   `json:"shipping"`
	Billing   *Address  `json:"billing,omitempty"`
	Lines     []Line    `json:"lines" jsonschema:"minItems=1,maxItems=50"`
	Payment   Payment   `json:"payment"`
	Totals    Totals    `json:"totals"`
	Tags      []string  `json:"tags" jsonschema:"maxItems=10"`
	Notes     string    `json:"notes,omitempty" jsonschema:"maxLength=500"`
}

// Customer is who placed the order.
type Customer struct {
	Name    string `json:"name" jsonschema:"minLength=1,maxLength=80"`
	Email   string `json:"email" jsonschema:"format=email"`
	Website string `json:"website,omitempty" jsonschema:"format=uri"`
	Tier    string `json:"tier" jsonschema:"enum=free,enum=pro,enum=enterprise"`
}

// Address is a postal address.
type Address struct {
	Line1    string `json:"line1" jsonschema:"minLength=1,maxLength=120"`
	City     string `json:"city" jsonschema:"minLength=1,maxLength=80"`
	Postcode string `json:"postcode" jsonschema:"maxLength=12"`
	Country  string `json:"country" jsonschema:"pattern=^[A-Z]{2}$"`
}

// Line is one ordered product.
type Line struct {
	SKU       string `json:"sku" jsonschema:"minLength=3,maxLength=20"`
	Name      string `json:"name" jsonschema:"minLength=1,maxLength=120"`
	Quantity  int    `json:"quantity" jsonschema:"minimum=1,maximum=1000"`
	UnitCents int64  `json:"unit_cents" jsonschema:"minimum=0"`
	URL       string `json:"url" jsonschema:"format=uri"`
}

// Payment says how and when the order was paid.
type Payment struct {
	Method    string    `json:"method" jsonschema:"enum=card,enum=invoice,enum=transfer"`
	Reference string    `json:"reference" jsonschema:"minLength=4,maxLength=40"`
	PaidAt    time.Time `json:"paid_at"`
}

// Totals are the order's sums in cents.
type Totals struct {
	SubtotalCents int64  `json:"subtotal_cents" jsonschema:"minimum=0"`
	TaxCents      int64  `json:"tax_cents" jsonschema:"minimum=0"`
	ShippingCents int64  `json:"shipping_cents" jsonschema:"minimum=0,maximum=100000"`
	TotalCents    int64  `json:"total_cents" jsonschema:"minimum=0"`
	Currency      string `json:"currency" jsonschema:"enum=EUR,enum=USD,enum=GBP"`
}

// ErrTotals is what Validate returns when the sums do not add up.
var ErrTotals = errors.New("totals do not add up")

// Validate checks what the schema cannot: the lines add up to the
// subtotal, and the total is the sum of its parts.
func (o Order) Validate() error {
	var sum int64
	for _, l := range o.Lines {
		sum += int64(l.Quantity) * l.UnitCents
	}
	t := o.Totals
	if sum != t.SubtotalCents || t.SubtotalCents+t.TaxCents+t.ShippingCents != t.TotalCents {
		return ErrTotals
	}
	return nil
}

// Sample returns a valid Order, the same every time.
func Sample() Order {
	created := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	return Order{
		ID:        "ORD-004217",
		Status:    "paid",
		CreatedAt: created,
		Customer: Customer{
			Name:    "Ada Lovelace",
			Email:   "ada.lovelace@analytical-engines.example.com",
			Website: "https://analytical-engines.example.com/about",
			Tier:    "pro",
		},
		Shipping: Address{Line1: "12 St James's Square", City: "London", Postcode: "SW1Y 4JH", Country: "GB"},
		Billing:  &Address{Line1: "Ockham Park, Ripley Road", City: "Woking", Postcode: "GU23 6LH", Country: "GB"},
		Lines: []Line{
			{SKU: "BAB-ENG-001", Name: "Difference engine, brass, hand-cranked", Quantity: 1, UnitCents: 125000, URL: "https://shop.example.com/p/bab-eng-001"},
			{SKU: "PUN-CRD-100", Name: "Punched cards, pack of 100", Quantity: 3, UnitCents: 1999, URL: "https://shop.example.com/p/pun-crd-100"},
			{SKU: "NOTE-G-1843", Name: "Notes on the Analytical Engine (reprint)", Quantity: 2, UnitCents: 2450, URL: "https://shop.example.com/p/note-g-1843"},
			{SKU: "GIFT-WRAP", Name: "Gift wrapping", Quantity: 1, UnitCents: 350, URL: "https://shop.example.com/p/gift-wrap"},
		},
		Payment: Payment{Method: "card", Reference: "ch_3PqL9xK2eZvKYlo2", PaidAt: created.Add(90 * time.Second)},
		Totals: Totals{
			SubtotalCents: 125000 + 3*1999 + 2*2450 + 350,
			TaxCents:      27180,
			ShippingCents: 1500,
			TotalCents:    125000 + 3*1999 + 2*2450 + 350 + 27180 + 1500,
			Currency:      "GBP",
		},
		Tags:  []string{"priority", "gift"},
		Notes: "Please leave the parcel with the porter.",
	}
}
