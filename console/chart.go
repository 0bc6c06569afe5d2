package console

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// chartHours is the span of the failure-rate charts, in hourly buckets.
const chartHours = 24

// bucket counts a step's outcomes in one hour.
type bucket struct{ ok, failed int }

// hourly returns each step's outcomes per hour over the last 24 hours,
// oldest hour first (pipeline → step → hour), and the time the last hour
// ends at: the end of the current minute, so that the last hour holds
// now. One store query (store.Ops.StepHistory) on the per-minute counters
// the stores keep, per request: no cache, no background work.
func hourly(ctx context.Context, s store.Ops, now time.Time) (map[string]map[string][]bucket, time.Time, error) {
	end := now.Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-chartHours * time.Hour)
	hist, err := s.StepHistory(ctx, "", start, time.Hour)
	if err != nil {
		return nil, end, err
	}
	out := map[string]map[string][]bucket{}
	for _, b := range hist {
		i := int(b.Start.Sub(start) / time.Hour)
		if i < 0 || i >= chartHours {
			continue
		}
		if out[b.Pipeline] == nil {
			out[b.Pipeline] = map[string][]bucket{}
		}
		hours := out[b.Pipeline][b.Step]
		if hours == nil {
			hours = make([]bucket, chartHours)
			out[b.Pipeline][b.Step] = hours
		}
		hours[i].ok += b.Succeeded
		hours[i].failed += b.Failed
	}
	return out, end, nil
}

// chartSVG draws a step's hourly failure rate as bars. It does not rely on
// colour: failed shares are hatched, hours without runs are marked with a
// dash, the axes are labelled in text, and every bar has a <title> with
// its counts; the whole chart has a title and a description.
func chartSVG(id, stepName string, hours []bucket, end time.Time) template.HTML {
	const w, h, top, bottom, left = 264, 78, 8, 18, 30
	barW := float64(w-left) / chartHours
	plot := float64(h - top - bottom)
	var b strings.Builder
	var fails, total, peak int
	peakRate, peakAt := 0.0, -1
	for i, bk := range hours {
		fails += bk.failed
		total += bk.ok + bk.failed
		if n := bk.ok + bk.failed; n > 0 {
			if r := float64(bk.failed) / float64(n); r > peakRate {
				peakRate, peakAt, peak = r, i, bk.failed
			}
		}
	}
	desc := fmt.Sprintf("%d of %d attempts of step %s failed over the last 24 hours", fails, total, stepName)
	if peakAt >= 0 {
		desc += fmt.Sprintf("; the worst hour was %s with %.1f%% (%d failed)", hourLabel(end, peakAt), 100*peakRate, peak)
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, w, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">Failure rate of step %s per hour, last 24 hours</title><desc id="%s-d">%s</desc>`,
		id, template.HTMLEscapeString(stepName), id, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<defs><pattern id="%s-h" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#fff"/><line x1="0" y1="0" x2="0" y2="4" stroke="#1d2330" stroke-width="2.2"/></pattern></defs>`, id)
	// Axes and their labels, in text.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#5e6778"/>`, left, h-bottom, w, h-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c9cfdb" stroke-dasharray="2 2"/>`, left, top, w, top)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#1d2330">100%%</text>`, left-3, top+3)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#1d2330">0%%</text>`, left-3, h-bottom+3)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" fill="#1d2330">−24 h</text>`, left, h-4)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#1d2330">now</text>`, w, h-4)
	for i, bk := range hours {
		x := float64(left) + float64(i)*barW
		n := bk.ok + bk.failed
		label := hourLabel(end, i)
		if n == 0 {
			fmt.Fprintf(&b, `<g><title>%s: no attempts</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="transparent"/><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#8a93a5"/></g>`,
				label, x, top, barW, h-top-bottom, x+2, h-bottom-2, x+barW-2, h-bottom-2)
			continue
		}
		rate := float64(bk.failed) / float64(n)
		bh := rate * plot
		if bk.failed > 0 && bh < 2 {
			bh = 2 // a failure is never invisible
		}
		fmt.Fprintf(&b, `<g><title>%s: %d of %d failed (%.1f%%)</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="transparent"/>`,
			label, bk.failed, n, 100*rate, x, top, barW, h-top-bottom)
		if bh > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#%s-h)" stroke="#1d2330" stroke-width="0.8"/>`,
				x+1, float64(h-bottom)-bh, barW-2, bh, id)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hourLabel names bucket i of a chart ending at end: "13:00–14:00 UTC".
func hourLabel(end time.Time, i int) string {
	to := end.UTC().Add(-time.Duration(chartHours-1-i) * time.Hour)
	from := to.Add(-time.Hour)
	return from.Format("15:04") + "–" + to.Format("15:04") + " UTC"
}
