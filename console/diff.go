package console

import (
	"net/url"
	"strings"
)

func urlPathEscape(s string) string { return url.PathEscape(s) }

// diffLine is one line of a line diff: Op is "=", "-" (only in the
// first text) or "+" (only in the second).
type diffLine struct {
	Op, Text string
}

// Op names, for the page: words as well as signs, so a diff reads
// without colour.
func (d diffLine) Word() string {
	switch d.Op {
	case "-":
		return "removed"
	case "+":
		return "added"
	}
	return "same"
}

// maxDiffLines bounds the texts a diff compares: the table is
// quadratic, and an answer longer than this is shown whole instead.
const maxDiffLines = 400

// lineDiff compares two texts line by line (longest common subsequence).
func lineDiff(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x) > maxDiffLines || len(y) > maxDiffLines {
		out := make([]diffLine, 0, len(x)+len(y))
		for _, l := range x {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range y {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{"=", x[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}
