package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// pathPlaceholder stands for the database file in the DSNs the report shows.
const pathPlaceholder = "<path>"

// maxMessagesShown is how many distinct error texts the report shows per workload and mode
// for modes other than sqlite-serial's, whose texts are all shown, in full.
const maxMessagesShown = 3

// maxMessageLen is the length error texts of modes other than sqlite-serial's are cut to.
const maxMessageLen = 160

// settingsBlocks describe the machine, the settings and the modes; the report starts with
// them.
func settingsBlocks(env machine, opts options, workloads []workload, modes []mode) []block {
	items := []string{
		"Machine: " + env.String() + ".",
		fmt.Sprintf("Go %s, SQLite %s (mattn/go-sqlite3 v1.14.53).", env.goVersion, env.sqliteVersion),
		poolsItem(opts),
		fmt.Sprintf("Writer goroutines: %d in writes-normal and writes-full (-writers), %d in mixed (-mixed-writers).", opts.writers, opts.mixedWriters),
		fmt.Sprintf("Synchronous: _sync=%s for every workload but writes-normal (NORMAL) and writes-full (FULL).", opts.sync),
		fmt.Sprintf("Busy timeout: _busy_timeout=%d for every mode but serial-busy0 (0).", busyTimeoutMS),
		stmtCacheLine(opts.stmtCache),
		fmt.Sprintf("Rounds: %d, the modes in a rotating order within each round and workload, each run on a fresh database file; timed workloads run %v each.", opts.rounds, opts.duration),
		"Workloads: " + strings.Join(names(workloads, func(w workload) string { return w.name }), ", ") + ".",
	}
	return []block{
		{heading: "Settings"},
		{items: items},
		{para: "Reproduce with:"},
		{code: opts.commandLine()},
		{heading: "Modes"},
		{items: names(modes, func(m mode) string { return m.name + ": " + m.describe(opts.defaults) + "." })},
		{table: modesTable(modes, opts)},
	}
}

// poolsItem is the settings line about the connections of every mode: R of them, or every
// mode at its defaults (-defaults).
func poolsItem(opts options) string {
	if opts.defaults {
		return fmt.Sprintf("Connections: every mode at its defaults (-defaults): plain, tuned and immediate use one pool "+
			"with database/sql's defaults (no SetMaxOpenConns or SetMaxIdleConns: open connections unlimited, 2 idle); "+
			"twopool a writer pool of 1 and a read-only pool with database/sql's defaults; "+
			"serial no _serial_readers (sqlite-serial's default readers) and database/sql's default pool. "+
			"R = %d sets only the workloads' reader goroutines (2×R in mixed, readonly and nplus1).", opts.readers)
	}
	return fmt.Sprintf("Connections: readers R = %d: plain, tuned and immediate use one pool of R+1 = %d connections "+
		"(SetMaxOpenConns and SetMaxIdleConns); twopool a writer pool of 1 and a read-only pool of R; "+
		"serial _serial_readers=R (R readers + 1 writer). The workloads start 2×R reader goroutines in mixed, readonly and nplus1.", opts.readers, opts.readers+1)
}

// poolsShort is poolsItem in a few words, for the chart.
func poolsShort(opts options) string {
	if opts.defaults {
		return fmt.Sprintf("pools at defaults, R=%d goroutines", opts.readers)
	}
	return fmt.Sprintf("R=%d", opts.readers)
}

// names maps xs to their names.
func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

// modesTable lists each mode with its pools and DSNs, the database file written as
// pathPlaceholder.
func modesTable(modes []mode, opts options) *table {
	t := &table{header: []string{"mode", "pool", "driver", "DSN", "max conns"}, code: []bool{false, false, false, true}}
	s := baseSettings(opts)
	for _, m := range modes {
		ms := s
		if m.busy0 {
			ms.busyMS = 0
		}
		for i, p := range m.plan(pathPlaceholder, ms) {
			name := m.name
			if i > 0 {
				name = ""
			}
			conns := "default (unlimited)"
			if p.maxOpen > 0 {
				conns = fmt.Sprint(p.maxOpen)
			}
			t.addRow(name, p.role, p.driver, p.dsn, conns)
		}
	}
	return t
}

// resultBlocks are the results: a table per workload, the checks, the error texts and
// sqlite-serial's counters. It also reports whether sqlite-serial had neither an error nor
// a lost write.
func resultBlocks(rs *results, opts options) ([]block, bool) {
	ref := referenceMode(rs)
	blocks := []block{
		{heading: "Results"},
		{para: fmt.Sprintf("ops, errors and lost: totals over %d round(s). ops/s, p50 and p99: medians over the rounds. "+
			"ops/s counts successful operations per second (in timed workloads those that ended within the duration, per second of it); "+
			"p50 and p99 are the latencies of one operation, failed ones included; wall, where shown, is the median wall time of a run. "+
			"Ratios divide a mode's median by %s's: above 1 means more ops/s, or a longer p99.", opts.rounds, ref)},
	}
	for _, w := range rs.workloads {
		blocks = append(blocks, block{para: w.name + ": " + w.about}, block{table: workloadTable(rs, w, ref)})
	}
	checks, passed := evaluateChecks(rs)
	blocks = append(blocks, block{heading: "Checks for sqlite-serial"}, block{items: checks})
	blocks = append(blocks, errorBlocks(rs)...)
	blocks = append(blocks, counterBlocks(rs)...)
	return blocks, passed
}

// referenceMode is the mode ratios divide by: twopool, or the first mode when twopool did
// not run.
func referenceMode(rs *results) string {
	if rs.hasMode(twopoolMode) {
		return twopoolMode
	}
	return rs.modes[0].name
}

// kindLabel is the plural noun of kind used in column names: "ops", "reads" or "writes".
func kindLabel(kind string) string {
	return kind + "s"
}

// metricLabel is the column name of metric m of kind.
func metricLabel(kind string, m metric) string {
	prefix := ""
	if kind != kindOp {
		prefix = kind + " "
	}
	switch m {
	case p50Metric:
		return prefix + "p50"
	case p99Metric:
		return prefix + "p99"
	}
	return kindLabel(kind) + "/s"
}

// workloadTable is the table of one workload: a row per mode.
func workloadTable(rs *results, w workload, ref string) *table {
	t := &table{header: []string{"mode"}}
	for _, k := range w.kinds {
		t.header = append(t.header, kindLabel(k))
	}
	t.header = append(t.header, "errors", "lost")
	for _, m := range []metric{rateMetric, p50Metric, p99Metric} {
		for _, k := range w.kinds {
			t.header = append(t.header, metricLabel(k, m))
		}
	}
	if w.wall {
		t.header = append(t.header, "wall")
	}
	for _, r := range w.ratios {
		t.header = append(t.header, metricLabel(r.kind, r.metric)+" vs "+ref)
	}
	t.numeric = make([]bool, len(t.header))
	for i := 1; i < len(t.numeric); i++ {
		t.numeric[i] = true
	}
	for _, m := range rs.modes {
		t.rows = append(t.rows, workloadRow(rs, w, m.name, ref))
	}
	return t
}

// workloadRow is the row of mode in the table of workload w.
func workloadRow(rs *results, w workload, mode, ref string) []string {
	c := rs.cell(w.name, mode)
	row := []string{mode}
	for _, k := range w.kinds {
		row = append(row, fmt.Sprint(c.ops(k)))
	}
	row = append(row, fmt.Sprint(c.errors()), fmt.Sprint(c.lost()))
	for _, m := range []metric{rateMetric, p50Metric, p99Metric} {
		for _, k := range w.kinds {
			v, ok := c.median(k, m)
			row = append(row, formatMetric(v, ok, m))
		}
	}
	if w.wall {
		v, ok := c.medianWall()
		row = append(row, formatMetric(v, ok, p50Metric)) // a duration, formatted as latencies are
	}
	for _, r := range w.ratios {
		v, ok := ratioTo(rs, w.name, mode, ref, r)
		row = append(row, formatRatio(v, ok))
	}
	return row
}

// ratioTo returns the median of r's metric for mode divided by that of ref, in workload w.
func ratioTo(rs *results, w, mode, ref string, r ratio) (float64, bool) {
	v, ok1 := rs.cell(w, mode).median(r.kind, r.metric)
	base, ok2 := rs.cell(w, ref).median(r.kind, r.metric)
	if !ok1 || !ok2 || base == 0 {
		return 0, false
	}
	return v / base, true
}

// formatMetric formats a median: a rate as a whole number, a latency as a duration.
func formatMetric(v float64, ok bool, m metric) string {
	switch {
	case !ok:
		return "n/a"
	case m == rateMetric:
		return fmt.Sprintf("%.0f", v)
	}
	return roundLatency(seconds(v)).String()
}

// formatRatio formats a ratio with two decimals and an "x".
func formatRatio(v float64, ok bool) string {
	if !ok || math.IsInf(v, 0) || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", v)
}

// seconds converts a number of seconds to a duration.
func seconds(v float64) time.Duration {
	return time.Duration(v * float64(time.Second))
}

// roundLatency rounds d to about three significant digits, for display.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Nanosecond)
}

// errorBlocks list the first distinct error texts of every workload and mode that had
// errors, with how often each was seen.
func errorBlocks(rs *results) []block {
	var items []string
	for _, w := range rs.workloads {
		for _, m := range rs.modes {
			items = append(items, messageItems(w.name, m, rs.cell(w.name, m.name).messages())...)
		}
	}
	if len(items) == 0 {
		return []block{{heading: "Errors"}, {para: "No mode had an error."}}
	}
	return []block{
		{heading: "Errors"},
		{para: fmt.Sprintf("The first distinct error texts of each workload and mode, with how often each was seen (for modes other than sqlite-serial's, at most %d, cut to %d characters).", maxMessagesShown, maxMessageLen)},
		{items: items},
	}
}

// messageItems are the report lines for the error texts of workload w in mode m.
func messageItems(w string, m mode, msgs []errorMessage) []string {
	var items []string
	for i, msg := range msgs {
		if !m.serial && i == maxMessagesShown {
			items = append(items, fmt.Sprintf("%s / %s: ... and %d more distinct texts", w, m.name, len(msgs)-i))
			break
		}
		text := msg.text
		if !m.serial {
			text = truncate(text, maxMessageLen)
		}
		items = append(items, fmt.Sprintf("%s / %s: %d× %s", w, m.name, msg.count, oneLine(text)))
	}
	return items
}

// oneLine puts s on one line.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", "; ")
}

// truncate puts s on one line and cuts it to at most n runes, marking a cut with "...".
func truncate(s string, n int) string {
	r := []rune(oneLine(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-3]) + "..."
}

// stmtCacheLine describes the statement cache of a run.
func stmtCacheLine(n int) string {
	if n < 0 {
		return "Statement cache: _stmt_cache_size not set, each driver's default (mattn's cache off; sqlite-serial's 16 per connection)."
	}
	return fmt.Sprintf("Statement cache: _stmt_cache_size=%d for every mode.", n)
}
