package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// chart is a grouped bar chart: one group per workload, one bar per mode.
type chart struct {
	title, subtitle string
	axis            string      // the y axis's label
	groups          []string    // a label per group
	groupNotes      []string    // a second, smaller label per group
	series          []string    // a name per bar of a group, shown in the legend
	colors          []string    // a fill colour per series
	values          [][]float64 // [group][series]; NaN where there is no value
	tips            [][]string  // [group][series]: the tooltip of each bar
}

// Layout of the chart, in pixels.
const (
	barWidth   = 22
	barGap     = 2
	groupGap   = 28
	plotLeft   = 72
	plotRight  = 24
	plotTop    = 96
	plotHeight = 300
	plotBottom = 64
)

// buildChart charts the first ratio of every workload: the median ops/s of each mode
// divided by the reference mode's.
func buildChart(rs *results, env machine, opts options) chart {
	ref := referenceMode(rs)
	c := chart{
		title:    fmt.Sprintf("sqlite-serial-bench: median ops/s relative to %s (%s = 1.0)", ref, ref),
		subtitle: fmt.Sprintf("%s; %s, SQLite %s; %s, _sync=%s, _busy_timeout=%d, _stmt_cache_size=%s; %d rounds, timed runs %v", env.short(), env.goVersion, env.sqliteVersion, poolsShort(opts), opts.sync, busyTimeoutMS, stmtCacheShort(opts.stmtCache), opts.rounds, opts.duration),
		axis:     "ops/s relative to " + ref,
	}
	for _, m := range rs.modes {
		c.series = append(c.series, m.name)
		c.colors = append(c.colors, m.color)
	}
	for _, w := range rs.workloads {
		r := w.ratios[0]
		c.groups = append(c.groups, w.name)
		c.groupNotes = append(c.groupNotes, metricLabel(r.kind, r.metric))
		values, tips := chartGroup(rs, w, r, ref)
		c.values = append(c.values, values)
		c.tips = append(c.tips, tips)
	}
	return c
}

// chartGroup returns the bars of workload w: each mode's ratio r to ref, and a tooltip
// with the median itself.
func chartGroup(rs *results, w workload, r ratio, ref string) ([]float64, []string) {
	var values []float64
	var tips []string
	for _, m := range rs.modes {
		v, ok := ratioTo(rs, w.name, m.name, ref, r)
		if !ok {
			v = math.NaN()
		}
		median, mok := rs.cell(w.name, m.name).median(r.kind, r.metric)
		values = append(values, v)
		tips = append(tips, fmt.Sprintf("%s, %s: %s %s, %s %s", w.name, m.name,
			formatMetric(median, mok, r.metric), metricLabel(r.kind, r.metric), formatRatio(v, ok), ref))
	}
	return values, tips
}

// svg renders the chart as a standalone SVG document.
func (c chart) svg() string {
	groupWidth := len(c.series)*(barWidth+barGap) - barGap + groupGap
	width := max(plotLeft+len(c.groups)*groupWidth+plotRight, plotLeft+6*len([]rune(c.subtitle)))
	height := plotTop + plotHeight + plotBottom
	top, step := axisScale(c.maxValue())
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n", width, height, width, height)
	fmt.Fprintf(&b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height)
	fmt.Fprintf(&b, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", plotLeft, esc(c.title))
	fmt.Fprintf(&b, "<text x=\"%d\" y=\"46\" font-size=\"11\" fill=\"#444444\">%s</text>\n", plotLeft, esc(c.subtitle))
	c.writeLegend(&b)
	c.writeAxis(&b, width, top, step)
	c.writeBars(&b, groupWidth, top)
	b.WriteString("</svg>\n")
	return b.String()
}

// maxValue returns the largest bar, or 1 when there is none.
func (c chart) maxValue() float64 {
	m := 0.0
	for _, g := range c.values {
		for _, v := range g {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				m = max(m, v)
			}
		}
	}
	if m == 0 {
		return 1
	}
	return m
}

// axisScale returns the top of the y axis and the step between its ticks for values up to
// maxV: a round step giving about five ticks, with room above the tallest bar for its label.
func axisScale(maxV float64) (top, step float64) {
	raw := maxV * 1.12 / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	return math.Ceil(maxV*1.12/step) * step, step
}

// y returns the vertical position of value v on an axis that ends at top.
func y(v, top float64) float64 {
	return plotTop + plotHeight - v/top*plotHeight
}

// writeLegend writes a coloured square and the name of every series in one row.
func (c chart) writeLegend(b *strings.Builder) {
	x := plotLeft
	for i, name := range c.series {
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"60\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x, esc(c.colors[i]))
		fmt.Fprintf(b, "<text x=\"%d\" y=\"70\" font-size=\"12\">%s</text>\n", x+16, esc(name))
		x += 16 + 8*len([]rune(name)) + 18
	}
}

// writeAxis writes the grid lines with their labels, the line at 1.0, the axes and the
// y axis's label.
func (c chart) writeAxis(b *strings.Builder, width int, top, step float64) {
	right := width - plotRight
	for v := 0.0; v <= top+step/1000; v += step {
		fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", plotLeft, y(v, top), right, y(v, top))
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", plotLeft-6, y(v, top)+4, esc(fmt.Sprintf("%g", math.Round(v*1000)/1000)))
	}
	fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333333\" stroke-dasharray=\"5 3\"/>\n", plotLeft, y(1, top), right, y(1, top))
	fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", plotLeft, plotTop, plotLeft, plotTop+plotHeight)
	fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", plotLeft, plotTop+plotHeight, right, plotTop+plotHeight)
	fmt.Fprintf(b, "<text transform=\"translate(20 %d) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n", plotTop+plotHeight/2, esc(c.axis))
}

// writeBars writes every group: its bars with their ratios and tooltips, and its labels.
func (c chart) writeBars(b *strings.Builder, groupWidth int, top float64) {
	for g, name := range c.groups {
		x0 := plotLeft + g*groupWidth + groupGap/2
		for s, v := range c.values[g] {
			x := x0 + s*(barWidth+barGap)
			c.writeBar(b, x, v, top, s, c.tips[g][s])
		}
		mid := float64(x0) + float64(groupWidth-groupGap)/2
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n", mid, plotTop+plotHeight+20, esc(name))
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#666666\" text-anchor=\"middle\">%s</text>\n", mid, plotTop+plotHeight+34, esc("("+c.groupNotes[g]+")"))
	}
}

// writeBar writes one bar of series s at x with value v, its label above it and its
// tooltip; a missing value is written as "n/a" on the axis.
func (c chart) writeBar(b *strings.Builder, x int, v, top float64, s int, tip string) {
	cx := float64(x) + barWidth/2.0
	if math.IsNaN(v) || math.IsInf(v, 0) {
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"8\" text-anchor=\"middle\">n/a<title>%s</title></text>\n", cx, plotTop+plotHeight-3, esc(tip))
		return
	}
	h := v / top * plotHeight
	fmt.Fprintf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s</title></rect>\n",
		x, y(v, top), barWidth, h, esc(c.colors[s]), esc(tip))
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"8.5\" text-anchor=\"middle\">%s</text>\n", cx, y(v, top)-3, esc(barLabel(v)))
}

// barLabel formats a ratio for the label above its bar, in at most four characters or so.
func barLabel(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// esc escapes s for use as XML text or as an attribute value.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writing to a strings.Builder cannot fail
	return b.String()
}

// stmtCacheShort is the statement cache of a run, for the chart's subtitle.
func stmtCacheShort(n int) string {
	if n < 0 {
		return "default"
	}
	return strconv.Itoa(n)
}
