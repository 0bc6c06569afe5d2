package contract

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
)

// Numeric keywords are compiled per Go kind so that Check compares exactly,
// as the validator does with big.Rat on the JSON text, yet without
// allocating: integers against integer bounds (never through float64,
// which loses precision above 2^53), floats against the nearest float with
// the few floats whose JSON text could land on the other side decided once,
// at compile time.

type boundMode uint8

const (
	boundNone  boundMode = iota // every value passes
	boundNever                  // no value of this kind passes
	boundLo                     // pass when x >= lo
	boundHi                     // pass when x <= hi
)

type numKeyword struct {
	keyword string
	rat     *big.Rat
}

func numKeywords(minimum, exclusiveMinimum, maximum, exclusiveMaximum *big.Rat) []numKeyword {
	var ks []numKeyword
	for _, k := range []numKeyword{
		{"minimum", minimum}, {"exclusiveMinimum", exclusiveMinimum},
		{"maximum", maximum}, {"exclusiveMaximum", exclusiveMaximum},
	} {
		if k.rat != nil {
			ks = append(ks, k)
		}
	}
	return ks
}

// intBound is one bound keyword for a signed or unsigned integer kind.
type intBound struct {
	numKeyword
	mode boundMode
	i    int64
	u    uint64
}

func (b *intBound) passInt(x int64) bool {
	switch b.mode {
	case boundNever:
		return false
	case boundLo:
		return x >= b.i
	case boundHi:
		return x <= b.i
	}
	return true
}

func (b *intBound) passUint(x uint64) bool {
	switch b.mode {
	case boundNever:
		return false
	case boundLo:
		return x >= b.u
	case boundHi:
		return x <= b.u
	}
	return true
}

var (
	bigMinInt64  = big.NewInt(math.MinInt64)
	bigMaxInt64  = big.NewInt(math.MaxInt64)
	bigMaxUint64 = new(big.Int).SetUint64(math.MaxUint64)
	bigZero      = big.NewInt(0)
	bigOne       = big.NewInt(1)
)

func floorRat(r *big.Rat) *big.Int {
	// Euclidean division by a positive denominator rounds towards -inf.
	return new(big.Int).Div(r.Num(), r.Denom())
}

func ceilRat(r *big.Rat) *big.Int {
	neg := new(big.Rat).Neg(r)
	return floorRat(neg).Neg(floorRat(neg))
}

// compileIntBound turns a keyword into "x >= lo" or "x <= hi" over the
// integer range [minV, maxV] of a Go kind.
func compileIntBound(k numKeyword, signed bool) intBound {
	b := intBound{numKeyword: k}
	var limit *big.Int
	lower := false
	switch k.keyword {
	case "minimum":
		limit, lower = ceilRat(k.rat), true
	case "exclusiveMinimum":
		limit, lower = new(big.Int).Add(floorRat(k.rat), bigOne), true
	case "maximum":
		limit = floorRat(k.rat)
	case "exclusiveMaximum":
		limit = new(big.Int).Sub(ceilRat(k.rat), bigOne)
	}
	minV, maxV := bigZero, bigMaxUint64
	if signed {
		minV, maxV = bigMinInt64, bigMaxInt64
	}
	switch {
	case lower && limit.Cmp(minV) <= 0, !lower && limit.Cmp(maxV) >= 0:
		b.mode = boundNone
	case lower && limit.Cmp(maxV) > 0, !lower && limit.Cmp(minV) < 0:
		b.mode = boundNever
	default:
		b.mode = boundHi
		if lower {
			b.mode = boundLo
		}
		if signed {
			b.i = limit.Int64()
		} else {
			b.u = limit.Uint64()
		}
	}
	return b
}

// floatBound is one bound keyword for float32 or float64.
type floatBound struct {
	numKeyword
	lower bool
	f     float64    // the float nearest the bound
	cand  [5]float64 // f and two neighbours each side...
	ok    [5]bool    // ...and whether their JSON text passes
}

func (b *floatBound) pass(x float64) bool {
	for i, c := range b.cand {
		if x == c {
			return b.ok[i]
		}
	}
	// Away from the bound's neighbourhood the float order is the decimal
	// order: every float below the window has JSON text below the bound.
	if b.lower {
		return x > b.f
	}
	return x < b.f
}

func compileFloatBound(k numKeyword, bits int) floatBound {
	b := floatBound{numKeyword: k, lower: k.keyword == "minimum" || k.keyword == "exclusiveMinimum"}
	// The nearest float, ±Inf beyond the range. Two neighbours each side
	// make the window safe even if this rounding were off by one.
	bf := new(big.Float).SetPrec(uint(max(64, k.rat.Num().BitLen()+k.rat.Denom().BitLen()+64))).SetRat(k.rat)
	if bits == 32 {
		f32, _ := bf.Float32()
		b.f = float64(f32)
		down, up := float32(math.Inf(-1)), float32(math.Inf(1))
		p1 := math.Nextafter32(f32, down)
		n1 := math.Nextafter32(f32, up)
		b.cand = [5]float64{float64(math.Nextafter32(p1, down)), float64(p1), b.f, float64(n1), float64(math.Nextafter32(n1, up))}
	} else {
		b.f, _ = bf.Float64()
		p1 := math.Nextafter(b.f, math.Inf(-1))
		n1 := math.Nextafter(b.f, math.Inf(1))
		b.cand = [5]float64{math.Nextafter(p1, math.Inf(-1)), p1, b.f, n1, math.Nextafter(n1, math.Inf(1))}
	}
	for i, c := range b.cand {
		b.ok[i] = exactFloatPass(k, c, bits)
	}
	return b
}

// exactFloatPass decides the keyword for float x as the validator would:
// on the decimal text encoding/json writes for x.
func exactFloatPass(k numKeyword, x float64, bits int) bool {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return false // never written; the candidate is a placeholder
	}
	r, ok := new(big.Rat).SetString(formatFloat(x, bits))
	if !ok {
		return false
	}
	c := r.Cmp(k.rat)
	switch k.keyword {
	case "minimum":
		return c >= 0
	case "exclusiveMinimum":
		return c > 0
	case "maximum":
		return c <= 0
	}
	return c < 0
}

// formatFloat writes x exactly as encoding/json does.
func formatFloat(x float64, bits int) string {
	abs := math.Abs(x)
	fmtc := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			fmtc = 'e'
		}
	}
	b := strconv.AppendFloat(nil, x, fmtc, -1, bits)
	if fmtc == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// enumInts splits enum values into the integers an int or uint field can
// equal; the validator compares numbers as rationals, so 2.0 equals 2.
func enumInts(values []any) (ints []int64, uints []uint64) {
	for _, v := range values {
		r, ok := ratOf(v)
		if !ok || !r.IsInt() {
			continue
		}
		n := r.Num()
		if n.Cmp(bigMinInt64) >= 0 && n.Cmp(bigMaxInt64) <= 0 {
			ints = append(ints, n.Int64())
		}
		if n.Sign() >= 0 && n.Cmp(bigMaxUint64) <= 0 {
			uints = append(uints, n.Uint64())
		}
	}
	return ints, uints
}

func ratOf(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	return new(big.Rat).SetString(string(n))
}
